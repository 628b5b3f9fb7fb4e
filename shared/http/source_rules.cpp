#include "shared/http/source_rules.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>

#include "shared/http/client.hpp"
#include "shared/http/url.hpp"

namespace pdl::http_client {
namespace {

using detail::ip_address;
using detail::url_target;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (!all_digits(s) || s.size() > 5) {
    return std::nullopt;
  }
  const int v = std::stoi(std::string(s));
  if (v < 1 || v > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(v);
}

bool is_v4_mapped(const ip_address& a) {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return a.v6 && std::memcmp(a.bytes.data(), prefix, 12) == 0;
}

bool is_nat64(const ip_address& a) {
  static constexpr std::uint8_t prefix[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  return a.v6 && std::memcmp(a.bytes.data(), prefix, 12) == 0;
}

ip_address embedded_v4(const ip_address& a) {
  ip_address out;
  std::copy(a.bytes.begin() + 12, a.bytes.end(), out.bytes.begin());
  return out;
}

/** The address without turning an IPv4-mapped IPv6 address into IPv4. */
std::optional<ip_address> parse_ip_raw(std::string_view text) {
  const std::string s(text);
  ip_address a;
  if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.v6 = true;
    return a;
  }
  return std::nullopt;
}

/** A host whose last label is a number (decimal or 0x-hex) is an IPv4 address to libcurl (and
 *  to browsers: WHATWG's "ends in a number"), e.g. "2852039166" or "0xa9.0xfe.0xa9.0xfe". */
bool ends_in_a_number(std::string_view host) {
  if (!host.empty() && host.back() == '.') {
    host.remove_suffix(1);
  }
  const auto dot = host.rfind('.');
  std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (all_digits(last)) {
    return true;
  }
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    return std::all_of(last.begin() + 2, last.end(), [](unsigned char c) {
      return std::isxdigit(c) != 0;
    });
  }
  return false;
}

std::string ip_text(const ip_address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof buf);
  return buf;
}

bool in_network(const ip_address& a, const ip_address& net, int len) {
  if (a.v6 != net.v6) {
    return false;
  }
  const int full = len / 8;
  if (std::memcmp(a.bytes.data(), net.bytes.data(), static_cast<std::size_t>(full)) != 0) {
    return false;
  }
  const int rest = len % 8;
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (net.bytes[full] & mask);
}

/** @p a with every bit past @p len cleared. */
ip_address masked(ip_address a, int len) {
  const int size = a.v6 ? 16 : 4;
  for (int i = 0; i < size; ++i) {
    const int keep = std::clamp(len - i * 8, 0, 8);
    a.bytes[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  return a;
}

bool unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/** RFC 3986 5.2.4. */
std::string remove_dot_segments(std::string in) {
  std::string out;
  const auto pop_segment = [&out] {
    const auto slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.rfind("../", 0) == 0) {
      in.erase(0, 3);
    } else if (in.rfind("./", 0) == 0) {
      in.erase(0, 2);
    } else if (in.rfind("/./", 0) == 0) {
      in.replace(0, 3, "/");
    } else if (in == "/.") {
      in = "/";
    } else if (in.rfind("/../", 0) == 0) {
      in.replace(0, 4, "/");
      pop_segment();
    } else if (in == "/..") {
      in = "/";
      pop_segment();
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      const auto next = in.find('/', in[0] == '/' ? 1 : 0);
      out += in.substr(0, next);
      in.erase(0, next);
    }
  }
  return out;
}

/** Path of a request target, as compared: no query, unreserved characters decoded, other
 *  escapes upper-cased, dot segments removed; "/" at least. */
std::string normalize_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::string decoded;
  for (std::size_t i = 0; i < target.size(); ++i) {
    const char c = target[i];
    if (c == '%' && i + 2 < target.size() && hex_value(target[i + 1]) >= 0 &&
        hex_value(target[i + 2]) >= 0) {
      const char d = static_cast<char>(hex_value(target[i + 1]) * 16 + hex_value(target[i + 2]));
      if (unreserved(d)) {
        decoded += d;
      } else {
        decoded += '%';
        decoded += static_cast<char>(std::toupper(static_cast<unsigned char>(target[i + 1])));
        decoded += static_cast<char>(std::toupper(static_cast<unsigned char>(target[i + 2])));
      }
      i += 2;
    } else {
      decoded += c;
    }
  }
  std::string out = remove_dot_segments(decoded);
  if (out.empty() || out.front() != '/') {
    out.insert(out.begin(), '/');
  }
  return out;
}

bool path_within(std::string_view path, std::string_view prefix) {
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) {
    return false;
  }
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

/** A host name entry: lower case, one trailing dot dropped, `*.` only as the first label.
 *  nullopt with @p why (not quoting the entry) when it is not one. */
std::optional<std::string> host_pattern(std::string_view name, std::string& why) {
  std::string h = lower(name);
  if (!h.empty() && h.back() == '.') {
    h.pop_back();
  }
  if (h.empty()) {
    why = "no host name";
    return std::nullopt;
  }
  if (h == "*") {
    why = "'*' alone would match every host name (an empty fetch.allow allows every source)";
    return std::nullopt;
  }
  std::string_view rest = h;
  if (rest.rfind("*.", 0) == 0) {
    rest.remove_prefix(2);
  }
  if (rest.find('*') != std::string_view::npos) {
    why = "'*' is only allowed as the whole first label, as in '*.example.com'";
    return std::nullopt;
  }
  if (rest.size() > 253) {
    why = "the host name is longer than 253 characters";
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= rest.size()) {
    auto dot = rest.find('.', start);
    if (dot == std::string_view::npos) {
      dot = rest.size();
    }
    const std::string_view label = rest.substr(start, dot - start);
    if (label.empty()) {
      why = "the host name has an empty label";
      return std::nullopt;
    }
    if (label.size() > 63) {
      why = "a label of the host name is longer than 63 characters";
      return std::nullopt;
    }
    for (char c : label) {
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') {
        why = std::string("unexpected character '") + c +
              "' (expected an address, a CIDR, a host name or an http(s) URL prefix)";
        return std::nullopt;
      }
    }
    start = dot + 1;
  }
  if (ends_in_a_number(rest)) {
    why = "not an IPv4 address (four decimal numbers expected, as in 10.0.0.0/8)";
    return std::nullopt;
  }
  return h;
}

bool host_matches(std::string_view pattern, std::string_view host) {
  if (pattern.rfind("*.", 0) == 0) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  return pattern == host;
}

std::string in_quotes(std::string_view entry) { return "'" + std::string(entry) + "'"; }

}  // namespace

namespace detail {

std::optional<ip_address> parse_ip(std::string_view text) {
  auto a = parse_ip_raw(text);
  if (a && is_v4_mapped(*a)) {
    return embedded_v4(*a);
  }
  return a;
}

std::optional<url_target> to_target(std::string_view url) {
  std::string why;
  auto parts = parse_url(url, why);
  if (!parts) {
    return std::nullopt;
  }
  url_target t;
  t.tls = parts->tls;
  t.host = lower(percent_decode(parts->host));
  std::string literal = t.host;
  const auto zone = literal.find('%');
  if (zone != std::string::npos && literal.find(':') != std::string::npos) {
    literal.erase(zone);  // fe80::1%eth0
  }
  t.address = parse_ip(literal);
  if (!t.address && ends_in_a_number(literal)) {
    // The IPv4 forms libcurl also takes: "2852039166", "0xa9fea9fe", "169.254.43518", octal.
    ip_address a;
    in_addr in{};
    std::string dotless = literal;
    if (!dotless.empty() && dotless.back() == '.') {
      dotless.pop_back();
    }
    if (::inet_aton(dotless.c_str(), &in) != 0) {
      std::memcpy(a.bytes.data(), &in.s_addr, 4);
      t.address = a;
    }
  }
  if (!t.address && !t.host.empty() && t.host.back() == '.') {
    t.host.pop_back();
  }
  t.port = static_cast<std::uint16_t>(std::stoi(parts->port));
  t.path = normalize_path(parts->target);
  return t;
}

}  // namespace detail

std::optional<source_rule> source_rule::parse(std::string_view text, std::string& why) {
  text = trim(text);
  source_rule r;
  r.text_ = std::string(text);
  if (text.empty()) {
    why = "empty entry";
    return std::nullopt;
  }
  if (starts_with_ci(text, "http://") || starts_with_ci(text, "https://")) {
    // Quoted without user info or query: an entry is config, but a pasted URL may hold secrets.
    const std::string shown = in_quotes(redact_url(text));
    r.kind_ = kind::url_prefix;
    std::string problem;
    auto parts = parse_url(text, problem);
    if (!parts) {
      why = shown + ": not a URL prefix: " + problem;
      return std::nullopt;
    }
    if (!parts->userinfo.empty()) {
      why = shown + ": a URL prefix cannot hold user info";
      return std::nullopt;
    }
    if (text.find_first_of("?#") != std::string_view::npos) {
      why = shown + ": a URL prefix cannot hold a query or a fragment";
      return std::nullopt;
    }
    r.tls_ = parts->tls;
    r.port_ = static_cast<std::uint16_t>(std::stoi(parts->port));
    r.path_ = normalize_path(parts->target);
    if (auto ip = detail::parse_ip(parts->host)) {
      r.net_ = *ip;
      r.prefix_len_ = ip->v6 ? 128 : 32;
      r.host_.clear();
    } else {
      auto host = host_pattern(parts->host, problem);
      if (!host) {
        why = shown + ": " + problem;
        return std::nullopt;
      }
      r.host_ = *host;
    }
    return r;
  }

  if (text.find("://") != std::string_view::npos) {
    why = in_quotes(redact_url(text)) + ": only http:// and https:// URL prefixes are supported";
    return std::nullopt;
  }
  // An address or CIDR, or a host name; each with an optional port.
  std::string_view host = text;
  std::string_view len_text;
  std::string_view port_text;
  bool has_len = false;
  bool has_port = false;
  bool bracketed = false;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) {
      why = in_quotes(text) + ": no ']' after the IPv6 address";
      return std::nullopt;
    }
    std::string_view rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    bracketed = true;
    if (!rest.empty() && rest.front() == '/') {
      has_len = true;
      const auto colon = rest.find(':');
      len_text = colon == std::string_view::npos ? rest.substr(1) : rest.substr(1, colon - 1);
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
    }
    if (!rest.empty()) {
      if (rest.front() != ':') {
        why = in_quotes(text) + ": unexpected text after ']'";
        return std::nullopt;
      }
      has_port = true;
      port_text = rest.substr(1);
    }
  } else if (std::count(host.begin(), host.end(), ':') >= 2) {
    // Unbracketed IPv6: no port (write [::1]:8181 for one).
    const auto slash = host.find('/');
    if (slash != std::string_view::npos) {
      has_len = true;
      len_text = host.substr(slash + 1);
      host = host.substr(0, slash);
    }
  } else {
    const auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    const auto slash = host.find('/');
    if (slash != std::string_view::npos) {
      has_len = true;
      len_text = host.substr(slash + 1);
      host = host.substr(0, slash);
    }
  }
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port) {
      why = in_quotes(text) + ": the port is not a number from 1 to 65535";
      return std::nullopt;
    }
    r.port_ = *port;
  }
  auto raw = parse_ip_raw(host);
  if (bracketed && (!raw || !raw->v6)) {
    why = in_quotes(text) + ": not an IPv6 address between the brackets";
    return std::nullopt;
  }
  if (!raw) {
    if (has_len) {
      why = in_quotes(text) + ": not a CIDR (an IPv4 or IPv6 address before the '/')";
      return std::nullopt;
    }
    std::string problem;
    auto name = host_pattern(host, problem);
    if (!name) {
      why = in_quotes(text) + ": " + problem;
      return std::nullopt;
    }
    r.kind_ = kind::host;
    r.host_ = *name;
    return r;
  }
  r.kind_ = kind::network;
  const int max_len = raw->v6 ? 128 : 32;
  int len = max_len;
  if (has_len) {
    if (!all_digits(len_text) || len_text.size() > 3 ||
        std::stoi(std::string(len_text)) > max_len) {
      why = in_quotes(text) + ": the prefix length is not a number from 0 to " +
            std::to_string(max_len);
      return std::nullopt;
    }
    len = std::stoi(std::string(len_text));
  }
  if (masked(*raw, len) != *raw) {
    why = in_quotes(text) + ": bits are set past the prefix length (the network is " +
          ip_text(masked(*raw, len)) + "/" + std::to_string(len) + ")";
    return std::nullopt;
  }
  if (is_v4_mapped(*raw) && len >= 96) {
    r.net_ = embedded_v4(*raw);
    r.prefix_len_ = len - 96;
  } else {
    r.net_ = *raw;
    r.prefix_len_ = len;
  }
  return r;
}

bool source_rule::matches(const url_target& t) const {
  if (port_ != 0 && port_ != t.port) {
    return false;
  }
  switch (kind_) {
    case kind::network:
      return t.address && in_network(*t.address, net_, prefix_len_);
    case kind::host:
      return !t.address && host_matches(host_, t.host);
    case kind::url_prefix:
      if (tls_ != t.tls) {
        return false;
      }
      if (host_.empty() ? !(t.address && *t.address == net_)
                        : (t.address || !host_matches(host_, t.host))) {
        return false;
      }
      return path_within(t.path, path_);
  }
  return false;
}

bool source_rule::matches(const ip_address& a, std::uint16_t port) const {
  return kind_ == kind::network && (port_ == 0 || port_ == port) &&
         in_network(a, net_, prefix_len_);
}

source_rules source_rules::with_defaults() {
  source_rules r;
  std::string why;
  for (const auto& [entry, note] : builtin_denies()) {
    if (!r.add_deny(entry, "default", why, std::string(note))) {
      throw std::logic_error("built-in source rule '" + std::string(entry) + "': " + why);
    }
  }
  return r;
}

const std::vector<source_rules::entry_note>& source_rules::builtin_denies() {
  static const std::vector<entry_note> list = {
      {"169.254.0.0/16", "link-local; cloud metadata at 169.254.169.254"},
      {"fe80::/10", "IPv6 link-local"},
      {"fd00:ec2::254", "AWS instance metadata over IPv6"},
      {"100.100.100.200", "Alibaba Cloud instance metadata"},
      {"168.63.129.16", "Azure WireServer"},
      {"metadata.google.internal", "Google Cloud instance metadata"},
  };
  return list;
}

bool source_rules::add_deny(std::string_view entry, std::string origin, std::string& why,
                            std::string note) {
  auto rule = source_rule::parse(entry, why);
  if (!rule) {
    return false;
  }
  deny_.push_back({std::move(*rule), std::move(origin), std::move(note)});
  return true;
}

bool source_rules::add_allow(std::string_view entry, std::string origin, std::string& why) {
  auto rule = source_rule::parse(entry, why);
  if (!rule) {
    return false;
  }
  allow_has_network_ = allow_has_network_ || rule->type() == source_rule::kind::network;
  allow_origin_ = origin;
  allow_.push_back({std::move(*rule), std::move(origin), {}});
  return true;
}

void source_rules::add_setting(const std::vector<std::string>& entries, const std::string& origin,
                               bool allow) {
  for (const auto& e : entries) {
    std::string why;
    if (!(allow ? add_allow(e, origin, why) : add_deny(e, origin, why))) {
      throw std::invalid_argument(origin + ": " + why);
    }
  }
}

void source_rules::deny_endpoint(std::string_view host, std::uint16_t port,
                                 const std::string& note, bool local_interfaces) {
  std::string h = lower(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  if (!h.empty() && h.back() == '.') {
    h.pop_back();
  }
  const std::string p = std::to_string(port);
  std::vector<std::string> entries;
  const auto endpoint = [&p](const ip_address& a) {
    return a.v6 ? "[" + ip_text(a) + "]:" + p : ip_text(a) + ":" + p;
  };
  bool local = false;
  if (auto ip = detail::parse_ip(h)) {
    const ip_address any{};
    ip_address any6;
    any6.v6 = true;
    ip_address loop6 = any6;
    loop6.bytes[15] = 1;
    local = (!ip->v6 && (ip->bytes[0] == 127 || *ip == any)) || *ip == any6 || *ip == loop6;
    entries.push_back(endpoint(*ip));
  } else {
    local = h == "localhost" || (h.size() > 10 && h.substr(h.size() - 10) == ".localhost");
    entries.push_back(h + ":" + p);
  }
  if (local) {
    for (const char* e : {"127.0.0.0/8", "[::1]", "0.0.0.0", "[::]", "localhost", "*.localhost"}) {
      entries.push_back(std::string(e) + ":" + p);
    }
    if (local_interfaces) {
      ifaddrs* list = nullptr;
      if (::getifaddrs(&list) == 0) {
        std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owner(list, ::freeifaddrs);
        for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
          if (i->ifa_addr == nullptr ||
              (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)) {
            continue;
          }
          ip_address a;
          if (i->ifa_addr->sa_family == AF_INET) {
            std::memcpy(a.bytes.data(),
                        &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
          } else {
            a.v6 = true;
            std::memcpy(a.bytes.data(),
                        &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
          }
          entries.push_back(endpoint(a));
        }
      }
    }
  }
  std::set<std::string> seen;
  for (const auto& e : entries) {
    std::string why;
    if (seen.insert(e).second && !add_deny(e, "default", why, note)) {
      throw std::invalid_argument("cannot deny " + e + ": " + why);
    }
  }
}

refusal source_rules::denied(const listed& l) const {
  refusal r;
  r.rule = l.rule.text();
  r.origin = l.origin;
  r.message = "denied by " + l.origin + " rule " + in_quotes(l.rule.text());
  if (!l.note.empty()) {
    r.message += " (" + l.note + ")";
  }
  return r;
}

refusal source_rules::not_allowed() const {
  return {"", allow_origin_, "not in " + allow_origin_};
}

std::optional<refusal> source_rules::check_url(std::string_view url, bool* allow_matched) const {
  if (allow_matched != nullptr) {
    *allow_matched = false;
  }
  const auto t = detail::to_target(url);
  if (!t) {
    return refusal{"", "", "not an absolute http(s) URL with a host"};
  }
  for (const auto& l : deny_) {
    if (l.rule.matches(*t)) {
      return denied(l);
    }
  }
  if (allow_.empty()) {
    return std::nullopt;
  }
  for (const auto& l : allow_) {
    if (l.rule.matches(*t)) {
      if (allow_matched != nullptr) {
        *allow_matched = true;
      }
      return std::nullopt;
    }
  }
  if (!t->address && allow_has_network_) {
    return std::nullopt;  // the addresses it resolves to decide
  }
  return not_allowed();
}

std::optional<refusal> source_rules::check_address(const sockaddr* addr, socklen_t len,
                                                   bool allow_matched) const {
  ip_address a;
  std::uint16_t port = 0;
  if (addr != nullptr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    std::memcpy(a.bytes.data(), &in->sin_addr, 4);
    port = ntohs(in->sin_port);
  } else if (addr != nullptr && addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    a.v6 = true;
    std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
    port = ntohs(in6->sin6_port);
    if (is_v4_mapped(a)) {
      a = embedded_v4(a);
    }
  } else {
    return refusal{"", "", "not an IPv4 or IPv6 address"};
  }
  std::vector<ip_address> forms{a};
  if (is_nat64(a)) {
    forms.push_back(embedded_v4(a));
  }
  for (const auto& l : deny_) {
    for (const auto& f : forms) {
      if (l.rule.matches(f, port)) {
        return denied(l);
      }
    }
  }
  if (allow_.empty() || allow_matched) {
    return std::nullopt;
  }
  for (const auto& l : allow_) {
    if (l.rule.matches(a, port)) {
      return std::nullopt;
    }
  }
  return not_allowed();
}

std::vector<std::string> source_rules::describe() const {
  std::vector<std::string> out;
  for (const auto& l : deny_) {
    out.push_back("deny " + l.rule.text() + " (" + l.origin +
                  (l.note.empty() ? "" : ": " + l.note) + ")");
  }
  for (const auto& l : allow_) {
    out.push_back("allow " + l.rule.text() + " (" + l.origin + ")");
  }
  return out;
}

void apply(const source_rules& rules, request& req) {
  // What check_url said of the hop being made, for the addresses that hop connects to.
  auto allow_matched = std::make_shared<bool>(false);
  req.allow_url = [&rules, allow_matched](std::string_view url, std::string* why) {
    if (auto r = rules.check_url(url, allow_matched.get())) {
      *why = std::move(r->message);
      return false;
    }
    return true;
  };
  req.allow_address = [&rules, allow_matched](const sockaddr* addr, socklen_t len,
                                               std::string* why) {
    if (auto r = rules.check_address(addr, len, *allow_matched)) {
      *why = std::move(r->message);
      return false;
    }
    return true;
  };
}

}  // namespace pdl::http_client
