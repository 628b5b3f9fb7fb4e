#pragma once
// The blocking HTTP(S) client of the CLI, the publisher library and the agent (which calls it
// from a worker thread, never from its event loop), on libcurl's easy interface. Bodies stream
// through callbacks, so a large download or upload is never held in memory here.
//
// What libcurl gives every request: HTTP/2 with servers that offer it over TLS (ALPN, HTTP/1.1
// otherwise), decoded compression (gzip and deflate, br and zstd when the linked libcurl has
// them: see supported_encodings()), proxies, connect/DNS/total/low-speed timeouts.
//
// Proxies come from the environment as every HTTP tool reads it: `HTTP_PROXY`/`http_proxy` for
// http:// URLs, `HTTPS_PROXY`/`https_proxy`, `ALL_PROXY`/`all_proxy`, and `NO_PROXY`/`no_proxy`
// (either case; the lower-case name wins when both are set). Upper-case HTTP_PROXY is ignored
// when REQUEST_METHOD is set, as Go does: in a CGI program it holds a request's `Proxy:` header
// (httpoxy). https goes through the proxy with CONNECT. request::proxy and request::no_proxy
// override the environment.
//
// Redirects are followed here, hop by hop (libcurl's own following is off), so each hop is
// checked: never from https to http; once the origin (scheme, host, port) changes, the caller's
// headers and credentials (headers, Authorization, the URL's userinfo) are no longer sent, for
// the rest of the chain; at most request::max_redirects hops.
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "shared/http/url.hpp"  // redact_url, parse_url: callers get them from here too
#include "shared/log/secret.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::http_client {

/**
 * Decides whether a connection to an address (after DNS, before connect) may be made: called
 * for every address libcurl tries, on every hop. Return false, with a reason in @p why, to
 * refuse it; libcurl then tries the host's next address, and perform() fails with
 * transport_error::code::refused when none was allowed. An exception from it propagates out of
 * perform(). Through a proxy it sees the proxy's
 * address (the proxy resolves the target). Called on the thread running perform().
 */
using address_filter = std::function<bool(const sockaddr* addr, socklen_t len, std::string* why)>;

/**
 * Decides whether a URL may be requested: called before the first hop and before every redirect
 * hop is followed, with the hop's absolute URL (userinfo included). Return false, with a reason
 * in @p why, to refuse it: perform() then fails with transport_error::code::refused. Called on
 * the thread running the transfer.
 */
using url_filter = std::function<bool(std::string_view url, std::string* why)>;

/**
 * Keeps connections, DNS answers and TLS sessions between blocking requests (libcurl's share
 * interface): requests given the same pool reuse a kept-alive connection to the same origin
 * instead of connecting (and handshaking) again. Give one pool per hop (the engine, the server),
 * never one shared with requests under source rules (a reused connection is not checked again).
 * Thread-safe; outlives the requests using it.
 */
class connection_pool {
 public:
  connection_pool();
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;
  struct impl;
  impl& get() { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

struct request {
  std::string method = "GET";
  std::string url;
  /** Header values are secrets: they never appear in an error message. */
  std::vector<std::pair<std::string, secret>> headers;
  /** In-memory body (small bodies). */
  std::optional<std::string> body;
  /** Streaming body: called until it returns 0 bytes; @p upload_size when known (-1 unknown:
   *  chunked over HTTP/1.1). */
  std::function<std::size_t(char* buf, std::size_t max)> body_source;
  std::int64_t upload_size = -1;

  /** DNS resolution, TCP connect and TLS handshake, per hop. */
  std::chrono::milliseconds connect_timeout{5000};
  /** Abort when no byte moved either way for this long once connected (a progress timeout,
   *  checked by libcurl's progress callback: it may fire up to ~1 s late). */
  std::chrono::milliseconds idle_timeout{10000};
  /** The whole request, redirects included; zero = none. */
  std::chrono::milliseconds total_timeout{std::chrono::minutes(10)};
  /** Abort when fewer than low_speed_limit bytes/s moved during low_speed_time (both > 0 to
   *  apply; libcurl's CURLOPT_LOW_SPEED_*). */
  std::uint32_t low_speed_limit = 0;
  std::chrono::seconds low_speed_time{0};
  int max_redirects = 0;               // 0: do not follow
  std::uint64_t max_response_bytes = 16 * 1024 * 1024;  // decoded bytes
  std::string ca_file;                 // custom CA bundle ("" = system); peers always verified
  std::string client_cert;             // PEM certificate presented for mTLS ("" = none)
  std::string client_key;              // its PEM private key (unencrypted)
  /** Proxy URL ("http://host:port"), overriding the environment; "" = no proxy. */
  std::optional<std::string> proxy;
  /** Hosts reached directly (curl's NO_PROXY syntax: "a.example,.b.example,10.0.0.0/8", "*"),
   *  overriding the environment's NO_PROXY. With request::proxy set and this unset: none. */
  std::optional<std::string> no_proxy;
  /** Source rules' hooks; empty = every address / URL allowed. */
  address_filter allow_address;
  url_filter allow_url;
  /** Connection reuse for perform() (null: connections closed at the end). The multi client
   *  keeps its own connections and ignores this. */
  std::shared_ptr<connection_pool> connections;
};

struct response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;                    // filled only when no body_sink was given (decoded)
  std::uint64_t body_bytes = 0;        // decoded bytes
  std::string effective_url;           // after redirects
  int http_version = 11;               // 10, 11, 20 (libcurl's CURLINFO_HTTP_VERSION, as 10*v)
  std::optional<std::string> header(std::string_view name) const;
};

/** Outcome of a transfer that did not produce a response. */
struct transport_error {
  enum class code { connect, timeout, too_large, aborted, tls, refused, other };
  code what;
  std::string message;                 // never contains header values or the URL's userinfo
};

/** Receives the (decoded) response body chunk by chunk; return false to abort the transfer
 *  (perform() then reports transport_error::aborted). Called only for final (non-redirect)
 *  responses, after the status and headers are known (@p status). */
using body_sink = std::function<bool(long status, std::string_view chunk)>;

/** Performs one request: one libcurl easy handle per hop, on the calling thread; connections
 *  closed at the end unless request::connections keeps them. Thread-safe (libcurl's global
 *  state is set up once, on first use). Exceptions thrown by body_source or the sink propagate out of perform(). A streamed upload
 *  (body_source) cannot be replayed, so a 307/308 answered to one is an error when
 *  max_redirects > 0; 303 (and 301/302 to a POST) continue with a GET without the body. */
std::variant<response, transport_error> perform(const request& req, const body_sink& sink = {});

/** Copies one hop's TLS knobs (CA, client certificate and key) into @p req. */
inline void use_tls(request& req, const tls::client_files& files) {
  req.ca_file = files.ca_file;
  req.client_cert = files.cert_file;
  req.client_key = files.key_file;
}

/** The content codings the linked libcurl decodes ("gzip", "deflate", then "br", "zstd" when
 *  present), as asked for in Accept-Encoding. */
std::vector<std::string> supported_encodings();

}  // namespace pdl::http_client
