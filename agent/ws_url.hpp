#pragma once
// Where the agent's WebSocket goes, derived from OPAL_SERVER_URL by parsing the URL (OPAL replaces
// the substring "http" anywhere in it, which mangles host names that contain "http").
#include <cstdint>
#include <string>
#include <string_view>

namespace pdl::agent {

struct ws_endpoint {
  std::string host;      // lower-cased (an IPv6 literal without its brackets)
  std::uint16_t port = 80;  // 443 by default for https/wss
  bool tls = false;      // https:// or wss://: the feed speaks WSS
  std::string target;    // "<prefix>/ws", always starting with '/'
  std::string host_header;  // "host:port" (bracketed for IPv6), for the Host header

  /** "ws[s]://host:port<target>", for logs. */
  std::string url() const;
};

/**
 * http://host[:port][/prefix] (or ws://) -> ws://host:port[/prefix]/ws; https:// (or wss://)
 * -> wss://host:port[/prefix]/ws, parsed by parsed_url (shared/http/url). A trailing '/' on the
 * prefix is dropped; query, fragment and credentials are refused.
 * @throws config::config_error (where = @p where) for anything else.
 */
ws_endpoint derive_ws_endpoint(std::string_view server_url, const std::string& where = "server.url");

/**
 * The server's HTTP base URL: http(s)://host[:port][/prefix] without a trailing '/', a ws:// or
 * wss:// server URL mapped to http:// or https:// (what the agent downloads blobs from:
 * <base>/data/blobs/<sha256>). Parsed as derive_ws_endpoint() does.
 * @throws config::config_error (where = @p where) for a URL derive_ws_endpoint() refuses.
 */
std::string server_http_base(std::string_view server_url,
                             const std::string& where = "server.url");

/** <server_url without trailing '/'>/data/config: the default base data-source config URL. */
std::string default_data_config_url(std::string_view server_url);

}  // namespace pdl::agent
