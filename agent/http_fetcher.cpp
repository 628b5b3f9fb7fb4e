#include "agent/http_fetcher.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>

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


}  // namespace

fetched_body http_fetcher::fetch(const model::data_source_entry& entry) {
  const std::string where = http_client::redact_url(entry.url);
  model::http_fetcher_config cfg;
  try {
    cfg = model::parse_fetcher_config(entry.config_json);
  } catch (const model::invalid_input& e) {
    throw fetch_error(std::string("bad entry config: ") + e.what(), true);
  }
  if (!http_client::is_http_url(entry.url)) {
    throw fetch_error("unsupported source url '" + where + "' (expected http or https)", true);
  }

  http_client::request req;
  req.method = cfg.method;
  req.url = entry.url;
  http_client::use_tls(req, options_.tls);
  req.headers = cfg.headers;
  req.body = cfg.body;
  req.connect_timeout = options_.connect_timeout;
  req.idle_timeout = options_.idle_timeout;
  req.total_timeout = options_.total_timeout;
  if (options_.low_speed_limit > 0) {
    req.low_speed_limit = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(options_.low_speed_limit, UINT32_MAX));
    req.low_speed_time = std::chrono::ceil<std::chrono::seconds>(options_.low_speed_time);
  }
  req.max_redirects = options_.max_redirects;
  req.max_response_bytes = options_.max_bytes;
  if (options_.rules) {
    http_client::apply(*options_.rules, req);
  }

  fetched_body out;
  try {
    out.file = temp_file::create(options_.temp_dir, "fetch");
  } catch (const std::exception& e) {
    throw fetch_error(e.what(), false);
  }
  std::unique_ptr<std::FILE, file_closer> file(std::fopen(out.file.path().c_str(), "wb"));
  if (!file) {
    throw fetch_error("cannot open the temp file for " + where, false);
  }

  model::json_validator validator(options_.max_depth);
  long error_status = 0;
  bool write_failed = false;
  std::string escaped;
  std::uint64_t written = 0;
  const auto write = [&](std::string_view bytes) {
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size()) {
      write_failed = true;
      return false;
    }
    written += bytes.size();
    return true;
  };
  if (!cfg.is_json) {
    write("\"");
  }
  const http_client::body_sink sink = [&](long status, std::string_view chunk) {
    if (status >= 400) {
      error_status = status;  // the error body is neither stored nor echoed
      return false;
    }
    if (!cfg.is_json) {
      escaped.clear();
      model::append_json_escaped(escaped, chunk);
      return write(escaped);
    }
    if (!validator.feed(chunk)) {
      return false;
    }
    return write(chunk);
  };

  auto result = http_client::perform(req, sink);
  long status = error_status;
  if (auto* err = std::get_if<http_client::transport_error>(&result)) {
    if (status == 0 && write_failed) {
      throw fetch_error("cannot write the temp file for " + where + " (disk full?)", false);
    }
    if (status == 0 && cfg.is_json && !validator.error().empty()) {
      throw fetch_error("invalid JSON from " + where + ": " + validator.error(), true);
    }
    if (status == 0) {
      throw fetch_error("fetching " + where + " failed: " + err->message,
                        err->what == http_client::transport_error::code::too_large ||
                            err->what == http_client::transport_error::code::refused,
                        0,
                        err->what == http_client::transport_error::code::timeout,
                        err->what == http_client::transport_error::code::refused);
    }
  } else {
    status = std::get<http_client::response>(result).status;
  }
  if (status >= 400 || status < 200 || status >= 300) {
    const bool permanent = status >= 400 && status < 500 && status != 408 && status != 429;
    throw fetch_error("source " + where + " answered HTTP " + std::to_string(status), permanent,
                      status);
  }
  if (cfg.is_json) {
    if (!validator.finish()) {
      throw fetch_error("invalid JSON from " + where + ": " + validator.error(), true);
    }
    out.root = validator.root_type().value_or(model::json_type::null);
  } else {
    write("\"");
    out.root = model::json_type::string;
  }
  if (write_failed || std::fflush(file.get()) != 0) {
    throw fetch_error("cannot write the temp file for " + where + " (disk full?)", false);
  }
  out.size = written;
  SPDLOG_LOGGER_DEBUG(log::get("agent.fetch"), "fetched {} ({} bytes)", where, written);
  return out;
}

}  // namespace pdl::agent
