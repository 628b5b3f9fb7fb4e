#pragma once
// The one URL module: every absolute URL the project reads (data sources and the server's check of
// them, the agent's server, policy-store and callback URLs, the WebSocket URL derived from the
// server URL, the Redis URI) is parsed by parsed_url, and every URL a log line or an error shows
// goes through redact_url(). Built on libcurl's URL API (curl_url), which splits the URL,
// validates and normalises the host (IPv4 forms, IPv6 literals, percent-escapes) and the port
// and resolves relative references; the checks it leaves to its caller are ours: exactly "://"
// after the scheme (curl takes one to three slashes), a scheme whitelist with default ports for
// schemes curl does not know (ws, wss, redis, rediss), lower-cased host, port 0 and IPv6 zone ids
// refused, percent-escapes validated, an unencoded '@' in the user info taken as Python's urllib
// does (the last '@' ends it), spaces and non-ASCII bytes in the path, query and fragment
// percent-encoded as browsers and Python's yarl do. No Asio/Beast headers, no IDNA.
//
// Own target (pdl_url, only libcurl): shared/model, shared/redis and shared/config use it
// without linking the HTTP client.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pdl {

/**
 * An absolute URL `scheme://[userinfo@]host[:port][/path][?query][#fragment]`, parsed and
 * checked. Immutable; cheap to copy. The userinfo is kept (href() carries it to libcurl) but
 * never appears in redacted(), origin(), host_header() or any parse error.
 */
class parsed_url {
 public:
  /**
   * Parses @p text, accepting only the schemes in @p schemes (lower-case names among http,
   * https, ws, wss, redis, rediss; the URL's scheme matches in any case).
   * @return std::nullopt with @p why set to a precise reason that never quotes the URL (only a
   *         refused scheme is named).
   */
  static std::optional<parsed_url> parse(std::string_view text,
                                         std::initializer_list<std::string_view> schemes,
                                         std::string& why);
  /** parse(), throwing std::invalid_argument(why) on refusal. */
  static parsed_url parse_or_throw(std::string_view text,
                                   std::initializer_list<std::string_view> schemes);

  /** Lower-case scheme ("http", "wss", ...). */
  const std::string& scheme() const noexcept { return scheme_; }
  /** https, wss or rediss. */
  bool secure() const noexcept;
  /** Lower-case host; an IPv6 literal without its brackets. IPv4 in canonical dotted form. */
  const std::string& host() const noexcept { return host_; }
  bool ipv6() const noexcept { return ipv6_; }
  /** The explicit port, else the scheme's default (80, 443, 6379). */
  std::uint16_t port() const noexcept { return port_; }
  /** True when port() is the scheme's default (written or not). */
  bool default_port() const noexcept;

  bool has_userinfo() const noexcept { return has_userinfo_; }
  /** The user name, percent-decoded ("" when none). */
  std::string user() const;
  /** The password, percent-decoded; std::nullopt when the userinfo has no ':'. */
  std::optional<std::string> password() const;
  /** The userinfo as written but with any unencoded '@' as %40 ("" when none). */
  const std::string& raw_userinfo() const noexcept { return userinfo_; }

  /** The path as written (spaces and non-ASCII bytes percent-encoded); "" when none. */
  const std::string& path() const noexcept { return path_; }
  /** The query without its '?', std::nullopt when there is none. */
  const std::optional<std::string>& query() const noexcept { return query_; }
  const std::optional<std::string>& fragment() const noexcept { return fragment_; }

  /** Path ("/" when empty) and "?query": an HTTP request target. */
  std::string target() const;
  /** "host" or "host:port" (a non-default port), IPv6 literals bracketed: the Host header. */
  std::string host_header() const;
  /** "host:port" always, IPv6 literals bracketed. */
  std::string host_port() const;
  /** scheme://host[:port], the default port elided: equal for the same origin whatever the case
   *  or an explicit default port. Two URLs with the same origin may share credentials. */
  std::string origin() const;
  /** The whole normalised URL, userinfo included: what is handed to libcurl. Never log it. */
  std::string href() const;
  /** origin() and path: no userinfo, query or fragment. What logs and errors show. */
  std::string redacted() const;

  /**
   * The URL that @p reference (absolute, "//host/...", "/path", "path", "?query") names
   * relative to this one (RFC 3986 section 5, by libcurl), parsed with @p schemes.
   */
  std::optional<parsed_url> resolve(std::string_view reference,
                                    std::initializer_list<std::string_view> schemes,
                                    std::string& why) const;

 private:
  parsed_url() = default;

  std::string scheme_;
  std::string userinfo_;
  bool has_userinfo_ = false;
  std::string host_;
  bool ipv6_ = false;
  std::uint16_t port_ = 0;
  std::string path_;
  std::optional<std::string> query_;
  std::optional<std::string> fragment_;
};

/**
 * @p text without userinfo, query string and fragment, for logs and error messages. A URL that
 * parses (any supported scheme) comes out normalised (parsed_url::redacted()); anything else is
 * cut textually (everything from the first '?' or '#', and "...@" before the first '/' after
 * "://"), so garbage never leaks a credential either.
 */
std::string redact_url(std::string_view text);

/** The lower-cased scheme when @p text starts with "<scheme>://", else "". */
std::string url_scheme(std::string_view text);

/** Percent-decodes @p s ("%41" -> "A"); invalid escapes are kept as they are. */
std::string percent_decode(std::string_view s);

namespace http_client {

// The HTTP client's view, kept for its callers: thin wrappers over parsed_url.

struct url_parts {
  bool tls = false;          // https
  std::string host;          // lower-case, without brackets for IPv6 literals
  std::string port;          // always set ("80"/"443" by default)
  std::string target;        // path and query ("/" at least), no fragment
  std::string userinfo;      // "user:password" percent-encoded, "" = none
  std::string url;           // the normalised URL without userinfo and fragment: what to request
  /** "host" or "host:port" (a non-default port), IPv6 literals bracketed: the Host header. */
  std::string host_header() const;
  /** Scheme, host and port: two URLs with the same origin may share credentials. */
  std::string origin() const;
};

/** True when @p url starts with "http://" or "https://", the scheme in any case (RFC 3986:
 *  schemes are case-insensitive). Only the scheme: parse_url() says whether the rest is valid. */
bool is_http_url(std::string_view url);

/** Parses an absolute http(s) URL; std::nullopt with @p why set (never quoting the URL). */
std::optional<url_parts> parse_url(std::string_view url, std::string& why);

/** The absolute URL a redirect's @p location names, relative to @p base; "" when it names none. */
std::string resolve_location(const url_parts& base, std::string_view location);

using pdl::percent_decode;
using pdl::redact_url;

}  // namespace http_client
}  // namespace pdl
