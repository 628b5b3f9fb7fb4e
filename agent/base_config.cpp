#include "agent/base_config.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "shared/http/client.hpp"
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

std::vector<model::data_source_entry> load_base_config(const base_config_request& request) {
  const std::string token_origin = url_origin(request.url);
  std::string url = request.url;
  for (int hop = 0;; ++hop) {
    http_client::request req;
    req.url = url;
    http_client::use_tls(req, request.tls);
    req.connect_timeout = request.connect_timeout;
    req.idle_timeout = request.idle_timeout;
    req.max_response_bytes = request.max_bytes;
    if (!request.token.empty() && url_origin(url) == token_origin) {
      req.headers.emplace_back("Authorization", secret("Bearer " + request.token.reveal()));
    }
    auto result = http_client::perform(req);
    const std::string where = http_client::redact_url(url);
    if (auto* err = std::get_if<http_client::transport_error>(&result)) {
      throw std::runtime_error("base data config: " + err->message);
    }
    auto& resp = std::get<http_client::response>(result);
    const bool redirect = resp.status == 301 || resp.status == 302 || resp.status == 303 ||
                          resp.status == 307 || resp.status == 308;
    if (redirect) {
      const auto location = resp.header("location");
      if (!location || location->empty()) {
        throw std::runtime_error("base data config: " + where + " answered HTTP " +
                                 std::to_string(resp.status) + " without a Location");
      }
      if (hop >= request.max_redirects) {
        throw std::runtime_error("base data config: too many redirects from " + where);
      }
      url = resolve_location(url, *location);
      continue;
    }
    if (resp.status != 200) {
      std::string hint;
      if (resp.status == 401 || resp.status == 403) {
        hint = " (check the client token)";
      }
      throw std::runtime_error("base data config: " + where + " answered HTTP " +
                               std::to_string(resp.status) + hint);
    }
    try {
      return model::parse_data_source_config(resp.body);
    } catch (const model::invalid_input& e) {
      throw std::runtime_error("base data config from " + where + " is invalid: " + e.what());
    }
  }
}

}  // namespace pdl::agent
