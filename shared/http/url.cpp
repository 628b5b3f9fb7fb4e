#include "shared/http/url.hpp"

#include <algorithm>
#include <cctype>

namespace pdl::http_client {
namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
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

bool is_http_url(std::string_view url) {
  return starts_with_ci(url, "http://") || starts_with_ci(url, "https://");
}

std::optional<url_parts> parse_url(std::string_view url, std::string& why) {
  url_parts out;
  if (starts_with_ci(url, "https://")) {
    out.tls = true;
    url.remove_prefix(8);
  } else if (starts_with_ci(url, "http://")) {
    url.remove_prefix(7);
  } else {
    why = "only http:// and https:// URLs are supported";
    return std::nullopt;
  }
  if (url.find_first_of(" \t\r\n") != std::string_view::npos) {
    why = "the URL contains white space";
    return std::nullopt;
  }
  const auto fragment = url.find('#');
  if (fragment != std::string_view::npos) {
    url = url.substr(0, fragment);
  }
  const auto end = url.find_first_of("/?");
  std::string_view authority = url.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : url.substr(end);
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    out.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "unterminated IPv6 address in the URL";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        why = "unexpected text after the IPv6 address in the URL";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
    }
  }
  if (out.host.empty()) {
    why = "the URL has no host";
    return std::nullopt;
  }
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else if (!all_digits(port) || port.size() > 5 || std::stoi(std::string(port)) > 65535 ||
             std::stoi(std::string(port)) == 0) {
    why = "the URL's port is not a number from 1 to 65535";
    return std::nullopt;
  } else {
    out.port = std::string(port);
  }
  out.target = rest.empty() ? "/" : std::string(rest);
  if (out.target.front() == '?') {
    out.target.insert(out.target.begin(), '/');
  }
  return out;
}

std::string resolve_location(const url_parts& base, std::string_view location) {
  if (starts_with_ci(location, "http://") || starts_with_ci(location, "https://")) {
    return std::string(location);
  }
  const std::string scheme = base.tls ? "https:" : "http:";
  if (location.rfind("//", 0) == 0) {
    return scheme + std::string(location);
  }
  const std::string origin = base.origin();
  if (!location.empty() && location.front() == '/') {
    return origin + std::string(location);
  }
  std::string dir = base.target.substr(0, base.target.find('?'));
  dir = dir.substr(0, dir.rfind('/') + 1);
  if (!location.empty() && location.front() == '?') {
    return origin + base.target.substr(0, base.target.find('?')) + std::string(location);
  }
  return origin + dir + std::string(location);
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

}  // namespace pdl::http_client
