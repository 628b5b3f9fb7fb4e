#include "shared/http/url.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <new>

namespace pdl {
namespace {

struct known_scheme {
  std::string_view name;
  std::uint16_t port;
  bool secure;
};

constexpr known_scheme known_schemes[] = {
    {"http", 80, false},    {"https", 443, true},   {"ws", 80, false},
    {"wss", 443, true},     {"redis", 6379, false}, {"rediss", 6379, true},
};

const known_scheme* find_scheme(std::string_view name) {
  for (const auto& s : known_schemes) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/** Length of the RFC 3986 scheme that starts @p text and is followed by ':', else 0. */
std::size_t scheme_length(std::string_view text) {
  if (text.empty() || !is_alpha(text.front())) {
    return 0;
  }
  std::size_t i = 1;
  while (i < text.size() && (is_alpha(text[i]) || is_digit(text[i]) || text[i] == '+' ||
                             text[i] == '-' || text[i] == '.')) {
    ++i;
  }
  return i < text.size() && text[i] == ':' ? i : 0;
}

/** Every '%' is followed by two hex digits. */
bool valid_escapes(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
        return false;
      }
      i += 2;
    }
  }
  return true;
}

std::string bad_escape(const char* part) {
  return std::string("invalid percent-escape in the ") + part +
         " ('%' must start %XX with two hex digits; write a literal '%' as %25)";
}

/** Spaces and non-ASCII bytes as %XX, as browsers and Python's yarl send them; @p from and
 *  everything else unchanged. */
std::string encode_loose(std::string_view s, char from = ' ', std::string_view to = "%20") {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == from) {
      out += to;
    } else if (c == ' ' || b >= 0x80) {
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string expected_schemes(std::initializer_list<std::string_view> schemes) {
  std::string out;
  std::size_t i = 0;
  for (auto s : schemes) {
    if (i > 0) {
      out += i + 1 == schemes.size() ? " and " : ", ";
    }
    out += s;
    out += "://";
    ++i;
  }
  return out;
}

struct curlu_deleter {
  void operator()(CURLU* h) const { curl_url_cleanup(h); }
};
using curlu_ptr = std::unique_ptr<CURLU, curlu_deleter>;

curlu_ptr new_curlu() {
  curlu_ptr h(curl_url());
  if (!h) {
    throw std::bad_alloc();
  }
  return h;
}

std::optional<std::string> get_part(CURLU* h, CURLUPart part) {
  char* value = nullptr;
  const CURLUcode rc = curl_url_get(h, part, &value, 0);
  if (rc == CURLUE_OUT_OF_MEMORY) {
    throw std::bad_alloc();
  }
  if (rc != CURLUE_OK) {
    return std::nullopt;
  }
  std::string out(value);
  curl_free(value);
  return out;
}

/** libcurl's refusal, in our words (libcurl's own never quote the URL either). */
std::string describe(CURLUcode rc) {
  switch (rc) {
    case CURLUE_BAD_PORT_NUMBER:
      return "the port is not a number from 1 to 65535";
    case CURLUE_BAD_IPV6:
      return "the IPv6 address is not valid";
    case CURLUE_BAD_HOSTNAME:
      return "the host is not a valid name or IP address";
    case CURLUE_NO_HOST:
      return "the URL has no host";
    case CURLUE_BAD_LOGIN:
    case CURLUE_BAD_USER:
    case CURLUE_BAD_PASSWORD:
    case CURLUE_USER_NOT_ALLOWED:
      return "the user info is malformed";
    case CURLUE_BAD_PATH:
      return "the path is malformed";
    case CURLUE_BAD_QUERY:
      return "the query is malformed";
    case CURLUE_BAD_FRAGMENT:
      return "the fragment is malformed";
    case CURLUE_OUT_OF_MEMORY:
      throw std::bad_alloc();
    default:
      return std::string("the URL is malformed (") + curl_url_strerror(rc) + ")";
  }
}

std::string_view after_scheme(std::string_view text) {
  const auto n = scheme_length(text);
  return text.substr(n + 3);
}

}  // namespace

std::optional<parsed_url> parsed_url::parse(std::string_view text,
                                            std::initializer_list<std::string_view> schemes,
                                            std::string& why) {
  if (text.empty()) {
    why = "the URL is empty";
    return std::nullopt;
  }
  const std::size_t n = scheme_length(text);
  if (n == 0) {
    why = "the URL has no scheme (only " + expected_schemes(schemes) + " URLs are supported)";
    return std::nullopt;
  }
  parsed_url u;
  u.scheme_ = lower(text.substr(0, n));
  const bool allowed = std::find(schemes.begin(), schemes.end(), u.scheme_) != schemes.end();
  const known_scheme* known = find_scheme(u.scheme_);
  if (text.substr(n, 3) != "://" && (!allowed || known == nullptr)) {
    // "host:port/..." or "user:password@host": not a scheme, and not to be quoted.
    why = "the URL has no scheme (only " + expected_schemes(schemes) + " URLs are supported)";
    return std::nullopt;
  }
  if (!allowed || known == nullptr) {
    why = "unsupported scheme '" + u.scheme_.substr(0, 16) + "' (only " +
          expected_schemes(schemes) + " URLs are supported)";
    return std::nullopt;
  }
  if (text.substr(n, 3) != "://") {
    why = "expected '//' after '" + u.scheme_ + ":'";
    return std::nullopt;
  }
  if (std::any_of(text.begin(), text.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b < 0x20 || b == 0x7f;
      })) {
    why = "the URL contains a control character (tab, line break, ...)";
    return std::nullopt;
  }

  std::string_view rest = after_scheme(text);
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  const std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  std::string_view hostport = authority;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    hostport = authority.substr(at + 1);
    if (userinfo.find(' ') != std::string_view::npos) {
      why = "the user info contains a space (write it as %20)";
      return std::nullopt;
    }
    if (!valid_escapes(userinfo)) {
      why = bad_escape("user info");
      return std::nullopt;
    }
    u.has_userinfo_ = true;
    // Python's urllib (OPAL, redis-py) ends the userinfo at the last '@'; libcurl at the first.
    u.userinfo_ = encode_loose(userinfo, '@', "%40");
  }
  if (hostport.empty() || hostport.front() == ':') {
    why = "the URL has no host";
    return std::nullopt;
  }
  if (hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      why = "the IPv6 address has no closing ']'";
      return std::nullopt;
    }
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      why = "unexpected text after the IPv6 address (expected ':port')";
      return std::nullopt;
    }
    if (hostport.substr(0, close).find('%') != std::string_view::npos) {
      why = "IPv6 zone ids ('%25' in the address) are not supported";
      return std::nullopt;
    }
  } else if (!valid_escapes(hostport)) {
    why = bad_escape("host");
    return std::nullopt;
  }
  const auto query_at = tail.find_first_of("?#");
  const auto fragment_at = tail.find('#');
  const std::string_view path = tail.substr(0, query_at);
  if (!valid_escapes(path)) {
    why = bad_escape("path");
    return std::nullopt;
  }
  u.path_ = encode_loose(path);
  if (query_at != std::string_view::npos && tail[query_at] == '?') {
    const auto query = tail.substr(query_at + 1, fragment_at == std::string_view::npos
                                                     ? std::string_view::npos
                                                     : fragment_at - query_at - 1);
    if (!valid_escapes(query)) {
      why = bad_escape("query");
      return std::nullopt;
    }
    u.query_ = encode_loose(query);
  }
  if (fragment_at != std::string_view::npos) {
    const auto fragment = tail.substr(fragment_at + 1);
    if (!valid_escapes(fragment)) {
      why = bad_escape("fragment");
      return std::nullopt;
    }
    u.fragment_ = encode_loose(fragment);
  }

  // libcurl checks and normalises the authority: host characters, IPv4 forms ("127.1"), IPv6
  // syntax, percent-escapes in the host, the port's digits and range.
  std::string input = u.scheme_ + "://";
  if (u.has_userinfo_) {
    input += u.userinfo_ + "@";
  }
  input += hostport;
  input += "/";
  auto h = new_curlu();
  if (const CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, input.c_str(),
                                        CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS);
      rc != CURLUE_OK) {
    why = describe(rc);
    return std::nullopt;
  }
  auto host = get_part(h.get(), CURLUPART_HOST);
  if (!host || host->empty()) {
    why = "the URL has no host";
    return std::nullopt;
  }
  if (get_part(h.get(), CURLUPART_ZONEID)) {
    why = "IPv6 zone ids ('%25' in the address) are not supported";
    return std::nullopt;
  }
  if (host->front() == '[') {
    u.ipv6_ = true;
    *host = host->substr(1, host->size() - 2);
  }
  u.host_ = lower(*host);
  u.port_ = known->port;
  if (auto port = get_part(h.get(), CURLUPART_PORT)) {
    unsigned value = 0;
    const auto r = std::from_chars(port->data(), port->data() + port->size(), value);
    if (r.ec != std::errc() || r.ptr != port->data() + port->size() || value == 0 ||
        value > 65535) {
      why = "the port is not a number from 1 to 65535";
      return std::nullopt;
    }
    u.port_ = static_cast<std::uint16_t>(value);
  }
  return u;
}

parsed_url parsed_url::parse_or_throw(std::string_view text,
                                      std::initializer_list<std::string_view> schemes) {
  std::string why;
  auto u = parse(text, schemes, why);
  if (!u) {
    throw std::invalid_argument(why);
  }
  return std::move(*u);
}

bool parsed_url::secure() const noexcept {
  const known_scheme* s = find_scheme(scheme_);
  return s != nullptr && s->secure;
}

bool parsed_url::default_port() const noexcept {
  const known_scheme* s = find_scheme(scheme_);
  return s != nullptr && s->port == port_;
}

std::string parsed_url::user() const {
  return percent_decode(std::string_view(userinfo_).substr(0, userinfo_.find(':')));
}

std::optional<std::string> parsed_url::password() const {
  const auto colon = userinfo_.find(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  return percent_decode(std::string_view(userinfo_).substr(colon + 1));
}

std::string parsed_url::target() const {
  std::string out = path_.empty() ? "/" : path_;
  if (query_) {
    out += "?" + *query_;
  }
  return out;
}

std::string parsed_url::host_port() const {
  return (ipv6_ ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

std::string parsed_url::host_header() const {
  std::string h = ipv6_ ? "[" + host_ + "]" : host_;
  return default_port() ? h : h + ":" + std::to_string(port_);
}

std::string parsed_url::origin() const { return scheme_ + "://" + host_header(); }

std::string parsed_url::href() const {
  std::string out = scheme_ + "://";
  if (has_userinfo_) {
    out += userinfo_ + "@";
  }
  out += host_header() + path_;
  if (query_) {
    out += "?" + *query_;
  }
  if (fragment_) {
    out += "#" + *fragment_;
  }
  return out;
}

std::string parsed_url::redacted() const { return origin() + path_; }

std::optional<parsed_url> parsed_url::resolve(std::string_view reference,
                                              std::initializer_list<std::string_view> schemes,
                                              std::string& why) const {
  if (std::any_of(reference.begin(), reference.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b < 0x20 || b == 0x7f;
      })) {
    why = "the URL contains a control character (tab, line break, ...)";
    return std::nullopt;
  }
  auto h = new_curlu();
  const std::string base = href();
  constexpr unsigned flags = CURLU_NON_SUPPORT_SCHEME;
  if (const CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, base.c_str(), flags);
      rc != CURLUE_OK) {
    why = describe(rc);
    return std::nullopt;
  }
  const std::string ref = encode_loose(reference);
  if (const CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, ref.c_str(), flags);
      rc != CURLUE_OK) {
    why = describe(rc);
    return std::nullopt;
  }
  const auto resolved = get_part(h.get(), CURLUPART_URL);
  if (!resolved) {
    why = "the URL is malformed";
    return std::nullopt;
  }
  return parse(*resolved, schemes, why);
}

std::string redact_url(std::string_view text) {
  std::string why;
  if (auto u = parsed_url::parse(text, {"http", "https", "ws", "wss", "redis", "rediss"}, why)) {
    return u->redacted();
  }
  if (const auto cut = text.find_first_of("?#"); cut != std::string_view::npos) {
    text = text.substr(0, cut);
  }
  const auto scheme = text.find("://");
  const std::size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  const auto path = text.find('/', authority);
  const auto at = text.substr(0, path).rfind('@');
  if (at != std::string_view::npos && at >= authority) {
    return std::string(text.substr(0, authority)) + std::string(text.substr(at + 1));
  }
  return std::string(text);
}

std::string url_scheme(std::string_view text) {
  const std::size_t n = scheme_length(text);
  return n != 0 && text.substr(n, 3) == "://" ? lower(text.substr(0, n)) : std::string();
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

namespace http_client {
namespace {

url_parts to_parts(const parsed_url& u) {
  url_parts out;
  out.tls = u.secure();
  out.host = u.host();
  out.port = std::to_string(u.port());
  out.target = u.target();
  out.userinfo = u.raw_userinfo();
  out.url = u.origin() + out.target;
  return out;
}

}  // namespace

std::string url_parts::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  const bool default_port = (tls && port == "443") || (!tls && port == "80");
  return default_port ? h : h + ":" + port;
}

std::string url_parts::origin() const {
  return std::string(tls ? "https://" : "http://") + host_header();
}

bool is_http_url(std::string_view text) {
  const std::string scheme = url_scheme(text);
  return scheme == "http" || scheme == "https";
}

std::optional<url_parts> parse_url(std::string_view text, std::string& why) {
  auto u = parsed_url::parse(text, {"http", "https"}, why);
  if (!u) {
    return std::nullopt;
  }
  return to_parts(*u);
}

std::string resolve_location(const url_parts& base, std::string_view location) {
  std::string why;
  auto b = parsed_url::parse(base.origin() + base.target, {"http", "https"}, why);
  if (!b) {
    return {};
  }
  auto u = b->resolve(location, {"http", "https"}, why);
  return u ? u->href() : std::string();
}

}  // namespace http_client
}  // namespace pdl
