#pragma once
// The parts of an http:// or https:// URL the client needs, and how a redirect's Location is
// resolved against it. Only what HTTP/1.1 to an origin server uses: no proxies, no IDNA.
#include <optional>
#include <string>
#include <string_view>

namespace pdl::http_client {

struct url_parts {
  bool tls = false;          // https
  std::string host;          // without brackets for IPv6 literals
  std::string port;          // always set ("80"/"443" by default)
  std::string target;        // path and query ("/" at least), no fragment
  std::string userinfo;      // "user:password" as written (percent-encoded), "" = none
  /** "host" or "host:port" (a non-default port), IPv6 literals bracketed: the Host header. */
  std::string host_header() const;
  /** Scheme, host and port: two URLs with the same origin may share credentials. */
  std::string origin() const;
};

/** True when @p url starts with "http://" or "https://", the scheme in any case (RFC 3986:
 *  schemes are case-insensitive; the server accepts "HTTP://" too). */
bool is_http_url(std::string_view url);

/** Parses @p url; std::nullopt with @p why set (never quoting the URL) when it is not an
 *  absolute http(s) URL with a host. */
std::optional<url_parts> parse_url(std::string_view url, std::string& why);

/** The absolute URL a redirect's @p location names, relative to @p base (absolute URL,
 *  scheme-relative "//host/…", absolute path "/…" or a path relative to base's directory). */
std::string resolve_location(const url_parts& base, std::string_view location);

/** Percent-decodes @p s ("%41" -> "A"); invalid escapes are kept as they are. */
std::string percent_decode(std::string_view s);

}  // namespace pdl::http_client
