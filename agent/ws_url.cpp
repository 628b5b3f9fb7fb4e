#include "agent/ws_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "shared/config/config_error.hpp"

namespace pdl::agent {
namespace {

[[noreturn]] void refuse(const std::string& where, std::string message) {
  throw config::config_error({config::problem{where, std::move(message)}});
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string ws_endpoint::url() const {
  return (tls ? "wss://" : "ws://") + host_header + target;
}

ws_endpoint derive_ws_endpoint(std::string_view url, const std::string& where) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    refuse(where, "expected an http:// URL (got no scheme)");
  }
  const std::string scheme = lower(url.substr(0, sep));
  if (scheme != "http" && scheme != "ws" && scheme != "https" && scheme != "wss") {
    refuse(where, "unsupported scheme '" + scheme + "' (expected http or https)");
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    refuse(where, "a server URL must not have a query or fragment");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    refuse(where, "a server URL must not carry credentials (use the client token)");
  }

  ws_endpoint ep;
  ep.tls = scheme == "https" || scheme == "wss";
  ep.port = ep.tls ? 443 : 80;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      refuse(where, "unterminated IPv6 address");
    }
    ep.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        refuse(where, "unexpected text after the IPv6 address");
      }
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  if (ep.host.empty()) {
    refuse(where, "missing host");
  }
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      refuse(where, "invalid port '" + std::string(port_text) + "'");
    }
    ep.port = static_cast<std::uint16_t>(value);
  }
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  ep.target = std::string(path) + "/ws";
  const bool v6 = ep.host.find(':') != std::string::npos;
  ep.host_header = (v6 ? "[" + ep.host + "]" : ep.host) + ":" + std::to_string(ep.port);
  return ep;
}

std::string default_data_config_url(std::string_view server_url) {
  while (!server_url.empty() && server_url.back() == '/') {
    server_url.remove_suffix(1);
  }
  return std::string(server_url) + "/data/config";
}

}  // namespace pdl::agent
