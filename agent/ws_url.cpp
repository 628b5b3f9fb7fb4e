#include "agent/ws_url.hpp"

#include "shared/config/config_error.hpp"
#include "shared/http/url.hpp"

namespace pdl::agent {
namespace {

[[noreturn]] void refuse(const std::string& where, std::string message) {
  throw config::config_error({config::problem{where, std::move(message)}});
}

}  // namespace

std::string ws_endpoint::url() const {
  return (tls ? "wss://" : "ws://") + host_header + target;
}

ws_endpoint derive_ws_endpoint(std::string_view server_url, const std::string& where) {
  std::string why;
  const auto u = parsed_url::parse(server_url, {"http", "https", "ws", "wss"}, why);
  if (!u) {
    refuse(where, why);
  }
  if (u->query() || u->fragment()) {
    refuse(where, "a server URL must not have a query or fragment");
  }
  if (u->has_userinfo()) {
    refuse(where, "a server URL must not carry credentials (use the client token)");
  }
  ws_endpoint ep;
  ep.host = u->host();
  ep.port = u->port();
  ep.tls = u->secure();
  std::string_view path = u->path();
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  ep.target = std::string(path) + "/ws";
  ep.host_header = u->host_port();
  return ep;
}

std::string server_http_base(std::string_view server_url, const std::string& where) {
  const ws_endpoint ep = derive_ws_endpoint(server_url, where);  // the same checks
  // ep.target is "<prefix>/ws" with the prefix's trailing slashes dropped.
  const std::string prefix = ep.target.substr(0, ep.target.size() - 3);
  const std::uint16_t default_port = ep.tls ? 443 : 80;
  std::string host = ep.host_header;
  if (ep.port == default_port) {
    host = host.substr(0, host.rfind(':'));
  }
  return (ep.tls ? "https://" : "http://") + host + prefix;
}

std::string default_data_config_url(std::string_view server_url) {
  while (!server_url.empty() && server_url.back() == '/') {
    server_url.remove_suffix(1);
  }
  return std::string(server_url) + "/data/config";
}

}  // namespace pdl::agent
