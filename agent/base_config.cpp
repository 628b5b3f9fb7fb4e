#include "agent/base_config.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "shared/http/client.hpp"
#include "shared/http/url.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"

namespace pdl::agent {

std::string url_origin(const std::string& url) {
  std::string why;
  const auto u = parsed_url::parse(url, {"http", "https"}, why);
  return u ? u->origin() : std::string();
}

namespace {

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/** One GET, no redirect followed. @throws std::runtime_error on a transport failure. */
http_client::response get(const std::string& url, const base_config_request& request) {
  http_client::request req;
  req.url = url;
  http_client::use_tls(req, request.tls);
  req.connect_timeout = request.connect_timeout;
  req.idle_timeout = request.idle_timeout;
  req.total_timeout = request.total_timeout;
  req.max_response_bytes = request.max_bytes;
  if (!request.token.empty()) {
    req.headers.emplace_back("Authorization", secret("Bearer " + request.token.reveal()));
  }
  auto result = http_client::perform(req);
  if (auto* err = std::get_if<http_client::transport_error>(&result)) {
    throw std::runtime_error("base data config: " + err->message);  // URL already redacted
  }
  return std::move(std::get<http_client::response>(result));
}

std::vector<model::data_source_entry> parse(const http_client::response& resp,
                                            const std::string& what) {
  if (resp.status != 200) {
    std::string hint;
    if (resp.status == 401 || resp.status == 403) {
      hint = " (check the client token; it is sent as \"Authorization: Bearer\")";
    }
    throw std::runtime_error("base data config: " + what + " answered HTTP " +
                             std::to_string(resp.status) + hint);
  }
  try {
    return model::parse_data_source_config(resp.body);
  } catch (const model::invalid_input& e) {
    throw std::runtime_error("base data config from " + what + " is invalid: " + e.what());
  }
}

}  // namespace

std::vector<model::data_source_entry> load_base_config(const base_config_request& request) {
  const std::string server = http_client::redact_url(request.url);
  const auto first = get(request.url, request);
  if (!is_redirect(first.status)) {
    return parse(first, server);
  }
  const std::string status = "HTTP " + std::to_string(first.status);
  const auto location = first.header("location");
  if (!location || location->empty()) {
    throw std::runtime_error("base data config: " + server + " answered " + status +
                             " without a Location");
  }
  if (location->size() > max_location_bytes) {
    throw std::runtime_error("base data config: " + server + " answered " + status +
                             " with a Location longer than " + std::to_string(max_location_bytes) +
                             " bytes");
  }
  std::string why;
  const auto target = parsed_url::parse(*location, {"http", "https"}, why);
  if (!target) {
    throw std::runtime_error("base data config: " + server + " answered " + status +
                             " to a Location that is not an absolute http(s) URL (an external "
                             "source must be one): " + why);
  }
  const std::string external = "external source " + target->redacted();
  if (!target->secure() && !request.token.empty()) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      SPDLOG_LOGGER_WARN(log::get("agent.base"), "the {} is plain http: the client token is "
                         "sent to it unencrypted (use https)", external);
    }
  }
  const auto second = get(*location, request);
  if (is_redirect(second.status)) {
    throw std::runtime_error("base data config: the " + external + " answered HTTP " +
                             std::to_string(second.status) + ": only one redirect (from the "
                             "server to its external source) is followed");
  }
  return parse(second, "the " + external);
}

}  // namespace pdl::agent
