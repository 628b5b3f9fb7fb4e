#include "agent/base_config.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <stdexcept>

#include "shared/http/client.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"

namespace pdl::agent {

std::string url_origin(const std::string& url) {
  const auto sep = url.find("://");
  if (sep == std::string::npos) {
    return {};
  }
  std::string scheme = url.substr(0, sep);
  const auto end = url.find_first_of("/?#", sep + 3);
  std::string authority = url.substr(sep + 3, end == std::string::npos ? end : end - sep - 3);
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    authority.erase(0, at + 1);
  }
  std::string all = scheme + "://" + authority;
  std::transform(all.begin(), all.end(), all.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto colon = authority.rfind(':');
  const bool has_port = colon != std::string::npos && authority.find(']', colon) == std::string::npos;
  if (!has_port) {
    all += scheme == "https" ? ":443" : ":80";
  }
  return all;
}

std::string resolve_location(const std::string& base, const std::string& location) {
  if (location.find("://") != std::string::npos) {
    return location;
  }
  const auto sep = base.find("://");
  if (sep == std::string::npos) {
    return location;
  }
  const auto path_start = base.find('/', sep + 3);
  const std::string origin = base.substr(0, path_start);
  if (location.rfind("//", 0) == 0) {
    return base.substr(0, sep + 1) + location;
  }
  if (!location.empty() && location.front() == '/') {
    return origin + location;
  }
  std::string path = path_start == std::string::npos ? "/" : base.substr(path_start);
  path = path.substr(0, path.find_first_of("?#"));
  path = path.substr(0, path.rfind('/') + 1);
  return origin + path + location;
}

namespace {

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/** "http://host..." or "https://host..." (scheme case-insensitive), with a non-empty host. */
bool absolute_http_url(const std::string& url) {
  const auto sep = url.find("://");
  if (sep == std::string::npos) {
    return false;
  }
  std::string scheme = url.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") {
    return false;
  }
  const auto host_end = url.find_first_of("/?#", sep + 3);
  return host_end != sep + 3 && sep + 3 < url.size();
}

bool plain_http(const std::string& url) {
  return url.size() >= 7 && std::equal(url.begin(), url.begin() + 7, "http://",
                                       [](char a, char b) {
                                         return std::tolower(static_cast<unsigned char>(a)) == b;
                                       });
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
  if (!absolute_http_url(*location)) {
    throw std::runtime_error("base data config: " + server + " answered " + status +
                             " to a Location that is not an absolute http(s) URL (an external "
                             "source must be one)");
  }
  const std::string external = "external source " + http_client::redact_url(*location);
  if (plain_http(*location) && !request.token.empty()) {
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
