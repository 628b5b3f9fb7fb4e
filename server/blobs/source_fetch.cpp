#include "server/blobs/source_fetch.hpp"

#include <algorithm>
#include <exception>

#include <fmt/format.h>

#include "shared/http/client.hpp"
#include "shared/http/url.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"
#include "shared/model/fetcher_config.hpp"
#include "shared/model/json_text.hpp"

namespace pdl::server::blobs {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.blobs");
  return l;
}

bool names_a_secret(const model::http_fetcher_config& cfg) {
  return std::any_of(cfg.headers.begin(), cfg.headers.end(), [](const auto& h) {
    return h.second.reveal().find("${secret:") != std::string::npos;
  });
}

/** One transfer's body on its way into the blob: the source's status checked, the bytes (or,
 *  with is_json false, their JSON string escaping) written to the writer. */
struct spool {
  std::unique_ptr<blob_store::writer> blob;
  bool is_json = true;
  long error_status = 0;
  std::string escaped;
  std::optional<std::string> blob_failure;  // the writer's refusal (invalid JSON, full store)
  bool store_side = false;                  // ... and whether the store, not the document, failed

  bool take(long status, std::string_view chunk) {
    if (status >= 400) {
      error_status = status;  // the error body is neither stored nor echoed
      return false;
    }
    try {
      if (is_json) {
        blob->write(chunk);
      } else {
        escaped.clear();
        model::append_json_escaped(escaped, chunk);
        blob->write(escaped);
      }
    } catch (const blob_error& e) {
      blob_failure = e.what();
      store_side = e.store_side();
      return false;
    }
    return true;
  }
};

source_failure classify(const spool& s, const std::string& where,
                        const std::variant<http_client::response, http_client::transport_error>& r,
                        const source_fetch_options& o) {
  using code = http_client::transport_error::code;
  long status = s.error_status;
  if (s.blob_failure) {
    return {s.store_side ? 507 : 422, fmt::format("{}: {}", where, *s.blob_failure)};
  }
  if (const auto* err = std::get_if<http_client::transport_error>(&r); err && status == 0) {
    switch (err->what) {
      case code::timeout:
        return {504, fmt::format("{} did not answer in time: {}", where, err->message)};
      case code::too_large:
        return {422, fmt::format("{} sent more than blobs.max_blob_bytes ({} bytes)", where,
                                 o.max_bytes)};
      case code::refused:
        return {422, fmt::format("{} is refused by the source rules: {}", where, err->message)};
      default:
        return {502, fmt::format("fetching {} failed: {}", where, err->message)};
    }
  }
  if (status == 0) {
    status = std::get<http_client::response>(r).status;
  }
  // A 4xx is the publisher's entry (wrong url, missing credentials); anything else, the source.
  return {status >= 400 && status < 500 ? 422 : 502,
          fmt::format("source {} answered HTTP {}", where, status)};
}

}  // namespace

source_fetcher::source_fetcher(blob_store& store, source_fetch_options options)
    : store_(store), options_(options) {
  http_client::multi_options mo;
  mo.max_host_connections = options_.max_per_host;
  client_ = std::make_unique<http_client::multi_client>(mo);
}

source_fetcher::~source_fetcher() = default;

void source_fetcher::fetch(const model::data_source_entry& entry, done_fn done) {
  fetch(entry, validators{}, std::move(done));
}

void source_fetcher::fetch(const model::data_source_entry& entry, const validators& known,
                           done_fn done) {
  auto fail = [&done](int status, std::string message) {
    source_result r;
    r.failure = source_failure{status, std::move(message)};
    done(std::move(r));
  };
  const std::string where = http_client::redact_url(entry.url);
  auto body = std::make_shared<spool>();
  http_client::request req;
  model::http_fetcher_config cfg;
  try {
    cfg = model::parse_fetcher_config(entry.config_json);
  } catch (const model::invalid_input& e) {
    fail(422, fmt::format("bad entry config: {}", e.what()));
    return;
  }
  if (!http_client::is_http_url(entry.url)) {
    fail(422, fmt::format("unsupported source url '{}' (expected http or https)", where));
    return;
  }
  if (names_a_secret(cfg)) {
    fail(422, "a ${secret:...} reference is resolved by agents from their own secrets; an "
              "entry fetched by the server carries its header values itself");
    return;
  }
  try {
    body->blob = std::make_unique<blob_store::writer>(store_, options_.max_bytes);
    body->is_json = cfg.is_json;
    if (!cfg.is_json) {
      body->blob->write("\"");
    }
  } catch (const blob_error& e) {
    logger()->error("no blob for {}: {}", where, e.what());
    fail(507, e.what());
    return;
  }
  req.method = cfg.method;
  req.url = entry.url;
  req.headers = std::move(cfg.headers);
  if (!known.etag.empty()) {
    req.headers.emplace_back("If-None-Match", secret(known.etag));
  }
  if (!known.last_modified.empty()) {
    req.headers.emplace_back("If-Modified-Since", secret(known.last_modified));
  }
  req.body = std::move(cfg.body);
  req.connect_timeout = options_.connect_timeout;
  req.idle_timeout = options_.idle_timeout;
  req.total_timeout = std::min(cfg.timeout.value_or(options_.total_timeout),
                               options_.total_timeout);
  req.max_redirects = options_.max_redirects;
  req.max_response_bytes = options_.max_bytes;
  if (options_.rules != nullptr) {
    http_client::apply(*options_.rules, req);
  }
  client_->start(
      std::move(req),
      [body](long status, std::string_view chunk) { return body->take(status, chunk); },
      [body, where, done = std::move(done), o = options_](
          std::variant<http_client::response, http_client::transport_error> result,
          std::exception_ptr error) {
        source_result out;
        if (error) {
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            out.failure = source_failure{502, fmt::format("fetching {} failed: {}", where, e.what())};
          } catch (...) {
            out.failure = source_failure{502, fmt::format("fetching {} failed", where)};
          }
          done(std::move(out));
          return;
        }
        const auto* resp = std::get_if<http_client::response>(&result);
        if (resp != nullptr) {
          out.seen.etag = resp->header("etag").value_or("");
          out.seen.last_modified = resp->header("last-modified").value_or("");
        }
        if (resp != nullptr && resp->status == 304 && body->error_status == 0) {
          out.not_modified = true;
          done(std::move(out));
          return;
        }
        if (body->error_status != 0 || body->blob_failure || resp == nullptr ||
            resp->status < 200 || resp->status >= 300) {
          out.failure = classify(*body, where, result, o);
          done(std::move(out));
          return;
        }
        if (!body->is_json) {
          try {
            body->blob->write("\"");
          } catch (const blob_error& e) {
            out.failure = source_failure{422, fmt::format("{}: {}", where, e.what())};
            done(std::move(out));
            return;
          }
        }
        out.blob = std::move(body->blob);
        done(std::move(out));
      });
}

}  // namespace pdl::server::blobs
