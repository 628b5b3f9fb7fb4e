#include "agent/http_fetcher.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "shared/auth/sha256.hpp"
#include "shared/http/client.hpp"
#include "shared/http/url.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"
#include "shared/model/fetcher_config.hpp"
#include "shared/model/json_text.hpp"

namespace pdl::agent {
namespace {

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

std::string short_hash(const std::string& sha256) { return sha256.substr(0, 12); }

/** One fetch's body on its way to the temp file: validated (or escaped) chunk by chunk, on the
 *  client's thread. With @p blob, also counted and hashed, and checked against it. */
class spool {
 public:
  spool(std::string where, bool is_json, std::size_t max_depth,
        std::optional<model::blob_ref> blob = std::nullopt)
      : where_(std::move(where)), is_json_(is_json), validator_(max_depth), blob_(std::move(blob)) {
    if (blob_) {
      hash_.emplace();
    }
  }

  /** Creates the temp file. @throws fetch_error. */
  void open(const std::string& dir) {
    try {
      out_.file = temp_file::create(dir, "fetch");
    } catch (const std::exception& e) {
      throw fetch_error(e.what(), false);
    }
    file_.reset(std::fopen(out_.file.path().c_str(), "wb"));
    if (!file_) {
      throw fetch_error("cannot open the temp file for " + where_, false);
    }
    if (!is_json_) {
      write("\"");
    }
  }

  /** The body sink. */
  bool take(long status, std::string_view chunk) {
    if (status >= 400 || (blob_ && (status < 200 || status >= 300))) {
      error_status_ = status;  // the error body is neither stored nor echoed
      return false;
    }
    if (blob_) {
      return take_blob(chunk);
    }
    if (!is_json_) {
      escaped_.clear();
      model::append_json_escaped(escaped_, chunk);
      return write(escaped_);
    }
    if (!validator_.feed(chunk)) {
      return false;
    }
    return write(chunk);
  }

  /** The validated document once the transfer ended. @throws fetch_error. */
  fetched_body finish(const std::variant<http_client::response, http_client::transport_error>& r) {
    long status = error_status_;
    if (const auto* err = std::get_if<http_client::transport_error>(&r)) {
      using code = http_client::transport_error::code;
      // start_blob() refused a blob over max_bytes, so a body over the limit is over its size.
      if (status == 0 && blob_ && (overflow_ || err->what == code::too_large)) {
        throw blob_mismatch_error("blob " + short_hash(blob_->sha256) + " from " + where_ +
                                  ": expected " + std::to_string(blob_->size) +
                                  " bytes, received more (transfer stopped)");
      }
      if (status == 0 && write_failed_) {
        throw fetch_error("cannot write the temp file for " + where_ + " (disk full?)", false);
      }
      // A blob's JSON error does not stop its transfer (take_blob): this one broke on its own.
      if (status == 0 && is_json_ && !blob_ && !validator_.error().empty()) {
        throw fetch_error("invalid JSON from " + where_ + ": " + validator_.error(), true);
      }
      if (status == 0) {
        throw fetch_error("fetching " + where_ + " failed: " + err->message,
                          err->what == code::too_large || err->what == code::refused, 0,
                          err->what == code::timeout, err->what == code::refused);
      }
    } else {
      status = std::get<http_client::response>(r).status;
    }
    if (status < 200 || status >= 300) {
      const bool permanent = status >= 400 && status < 500 && status != 408 && status != 429;
      if (blob_ && status == 404) {
        throw fetch_error("the server no longer has blob " + short_hash(blob_->sha256) +
                              " (HTTP 404 from " + where_ + ")",
                          true, status);
      }
      if (blob_) {
        throw fetch_error("the server answered HTTP " + std::to_string(status) + " for blob " +
                              short_hash(blob_->sha256) + " (" + where_ + ")",
                          permanent, status);
      }
      throw fetch_error("source " + where_ + " answered HTTP " + std::to_string(status),
                        permanent, status);
    }
    if (blob_) {
      check_blob();
    }
    if (is_json_) {
      if (!validator_.finish()) {
        throw fetch_error("invalid JSON from " + where_ + ": " + validator_.error(), true);
      }
      out_.root = validator_.root_type().value_or(model::json_type::null);
    } else {
      write("\"");
      out_.root = model::json_type::string;
    }
    if (write_failed_ || std::fflush(file_.get()) != 0) {
      throw fetch_error("cannot write the temp file for " + where_ + " (disk full?)", false);
    }
    file_.reset();
    out_.size = written_;
    SPDLOG_LOGGER_DEBUG(log::get("agent.fetch"), "fetched {} ({} bytes)", where_, written_);
    return std::move(out_);
  }

 private:
  /** A blob's chunk: counted and hashed before anything else, so that bytes other than the
   *  blob's are reported as such even when they are not JSON either. */
  bool take_blob(std::string_view chunk) {
    if (chunk.size() > blob_->size - received_) {
      overflow_ = true;  // more than announced: no need to read the rest
      return false;
    }
    received_ += chunk.size();
    hash_->update(chunk);
    if (json_failed_) {
      return true;  // keep hashing: finish() says whether these were the blob's bytes
    }
    if (!validator_.feed(chunk)) {
      json_failed_ = true;
      return true;
    }
    return write(chunk);
  }

  /** @throws blob_mismatch_error when the bytes received are not the blob's. */
  void check_blob() {
    const std::string got = hash_->finish();
    if (received_ != blob_->size || got != blob_->sha256) {
      throw blob_mismatch_error("blob " + short_hash(blob_->sha256) + " from " + where_ +
                                ": expected sha256 " + short_hash(blob_->sha256) + "... (" +
                                std::to_string(blob_->size) + " bytes), received sha256 " +
                                short_hash(got) + "... (" + std::to_string(received_) +
                                " bytes)");
    }
    if (json_failed_) {
      throw fetch_error("invalid JSON from " + where_ + ": " + validator_.error(), true);
    }
  }

  bool write(std::string_view bytes) {
    if (!bytes.empty() &&
        std::fwrite(bytes.data(), 1, bytes.size(), file_.get()) != bytes.size()) {
      write_failed_ = true;
      return false;
    }
    written_ += bytes.size();
    return true;
  }

  std::string where_;
  bool is_json_;
  model::json_validator validator_;
  fetched_body out_;
  std::unique_ptr<std::FILE, file_closer> file_;
  long error_status_ = 0;
  bool write_failed_ = false;
  std::string escaped_;
  std::uint64_t written_ = 0;
  std::optional<model::blob_ref> blob_;
  std::optional<auth::sha256_stream> hash_;  // with blob_
  std::uint64_t received_ = 0;               // blob bytes received (<= blob_->size)
  bool overflow_ = false;                    // more bytes than blob_->size arrived
  bool json_failed_ = false;                 // a blob's bytes stopped being valid JSON
};

void run_transfer(http_client::multi_client& client, http_client::request req,
                  std::shared_ptr<spool> body, fetch_done done) {
  client.start(
      std::move(req), [body](long status, std::string_view chunk) { return body->take(status, chunk); },
      [body, done = std::move(done)](
          std::variant<http_client::response, http_client::transport_error> result,
          std::exception_ptr error) {
        if (error) {
          done({}, error);
          return;
        }
        fetched_body doc;
        try {
          doc = body->finish(result);
        } catch (...) {
          done({}, std::current_exception());
          return;
        }
        done(std::move(doc), nullptr);
      });
}

}  // namespace

http_fetcher::http_fetcher(http_fetcher_options options) : options_(std::move(options)) {
  http_client::multi_options mo;
  mo.max_host_connections = options_.max_per_host;
  client_ = std::make_unique<http_client::multi_client>(mo);
}

http_fetcher::~http_fetcher() = default;

void http_fetcher::fetch(const model::data_source_entry& entry, fetch_done done) {
  if (entry.blob) {
    start_blob(entry, std::move(done));
    return;
  }
  // Only an entry that names secrets reads files before its transfer: that one is prepared on
  // the pool; the others start at once (the pool may be busy with slow engine writes).
  const bool reads_secrets =
      entry.config_json && secret_refs::has_reference(*entry.config_json);
  if (options_.blocking && reads_secrets) {
    options_.blocking([this, entry, done = std::move(done)]() mutable {
      start(entry, std::move(done));
    });
    return;
  }
  start(entry, std::move(done));
}

void http_fetcher::start(const model::data_source_entry& entry, fetch_done done) {
  const std::string where = http_client::redact_url(entry.url);
  std::shared_ptr<spool> body;
  http_client::request req;
  try {
    model::http_fetcher_config cfg;
    try {
      cfg = model::parse_fetcher_config(entry.config_json);
    } catch (const model::invalid_input& e) {
      throw fetch_error(std::string("bad entry config: ") + e.what(), true);
    }
    if (!http_client::is_http_url(entry.url)) {
      throw fetch_error("unsupported source url '" + where + "' (expected http or https)", true);
    }
    req.method = cfg.method;
    req.url = entry.url;
    for (auto& [name, value] : cfg.headers) {
      if (!secret_refs::has_reference(value.reveal())) {
        continue;
      }
      if (!options_.secrets) {
        throw secret_error("header '" + name + "': ${secret:...} references are not resolved here");
      }
      try {
        value = options_.secrets->resolve(name, value);
      } catch (const std::runtime_error& e) {
        throw secret_error(e.what());
      }
    }
    req.headers = std::move(cfg.headers);
    req.body = std::move(cfg.body);
    apply_limits(req);
    if (cfg.timeout) {
      req.total_timeout = *cfg.timeout;
    }
    req.max_redirects = options_.max_redirects;
    if (options_.rules) {
      http_client::apply(*options_.rules, req);
    }
    body = std::make_shared<spool>(where, cfg.is_json, options_.max_depth);
    body->open(options_.temp_dir);
  } catch (...) {
    done({}, std::current_exception());
    return;
  }
  run_transfer(*client_, std::move(req), std::move(body), std::move(done));
}

void http_fetcher::start_blob(const model::data_source_entry& entry, fetch_done done) {
  const model::blob_ref& blob = *entry.blob;
  std::shared_ptr<spool> body;
  http_client::request req;
  try {
    if (!model::is_sha256_hex(blob.sha256)) {
      throw fetch_error("bad blob: sha256 is not 64 lower-case hex digits", true);
    }
    if (!options_.blob_server) {
      throw fetch_error("blob " + short_hash(blob.sha256) +
                            " cannot be downloaded: no server to download blobs from is "
                            "configured here",
                        true);
    }
    if (blob.size > options_.max_bytes) {
      throw fetch_error("blob " + short_hash(blob.sha256) + " is " + std::to_string(blob.size) +
                            " bytes, over the fetch size limit of " +
                            std::to_string(options_.max_bytes) + " bytes",
                        true);
    }
    blob_origin origin = options_.blob_server();
    if (!http_client::is_http_url(origin.base_url)) {
      throw fetch_error("the server's blob URL '" + http_client::redact_url(origin.base_url) +
                            "' is not http(s)",
                        true);
    }
    // The entry's url (the server's signed URL for OPAL clients) and config are not used: the
    // agent has its own token for the server it is connected to.
    req.method = "GET";
    req.url = origin.base_url + "/data/blobs/" + blob.sha256;
    if (!origin.token.empty()) {
      req.headers.emplace_back("Authorization", secret("Bearer " + origin.token.reveal()));
    }
    apply_limits(req);
    req.max_redirects = 0;  // the token is for this server only
    body = std::make_shared<spool>(http_client::redact_url(req.url), true, options_.max_depth,
                                   blob);
    body->open(options_.temp_dir);
  } catch (...) {
    done({}, std::current_exception());
    return;
  }
  std::call_once(blob_client_made_, [this] {
    http_client::multi_options mo;
    mo.max_host_connections = options_.max_per_host;
    blob_client_ = std::make_unique<http_client::multi_client>(mo);
  });
  run_transfer(*blob_client_, std::move(req), std::move(body), std::move(done));
}

void http_fetcher::apply_limits(http_client::request& req) const {
  http_client::use_tls(req, options_.tls);
  req.connect_timeout = options_.connect_timeout;
  req.idle_timeout = options_.idle_timeout;
  req.total_timeout = options_.total_timeout;
  if (options_.low_speed_limit > 0) {
    req.low_speed_limit = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(options_.low_speed_limit, UINT32_MAX));
    req.low_speed_time = std::chrono::ceil<std::chrono::seconds>(options_.low_speed_time);
  }
  req.max_response_bytes = options_.max_bytes;
  req.proxy = options_.proxy;
  req.no_proxy = options_.no_proxy;
}

}  // namespace pdl::agent
