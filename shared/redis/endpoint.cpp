#include "shared/redis/endpoint.hpp"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace pdl::redis {
namespace {

constexpr std::size_t max_uri_length = 4096;

/** %XX decoding for the user and password parts. */
std::string percent_decode(std::string_view in, const char* what) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    int value = 0;
    if (i + 2 >= in.size() ||
        std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16).ptr != in.data() + i + 3) {
      throw std::invalid_argument(fmt::format("bad %-escape in the {}", what));
    }
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

}  // namespace

std::string endpoint::describe() const {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}/{}", v6 ? "[" : "", host, v6 ? "]" : "", port, db);
}

endpoint parse_uri(std::string_view uri) {
  if (uri.size() > max_uri_length) {
    throw std::invalid_argument(fmt::format("longer than {} characters", max_uri_length));
  }
  constexpr std::string_view scheme = "redis://";
  if (uri.substr(0, scheme.size()) != scheme) {
    const auto colon = uri.find("://");
    const auto given = colon == std::string_view::npos ? std::string("no scheme")
                                                       : "'" + std::string(uri.substr(0, colon)) + "://'";
    throw std::invalid_argument(fmt::format(
        "expected redis://[[user]:password@]host[:port][/db], got {}{}", given,
        uri.substr(0, 9) == "rediss://" ? " (TLS to Redis is not supported yet)" : ""));
  }
  std::string_view rest = uri.substr(scheme.size());
  endpoint ep;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      // redis://secret@host: redis-py reads a lone userinfo as the password.
      ep.password = secret(percent_decode(userinfo, "password"));
    } else {
      ep.username = percent_decode(userinfo.substr(0, colon), "user name");
      ep.password = secret(percent_decode(userinfo.substr(colon + 1), "password"));
    }
  }
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    throw std::invalid_argument("query parameters are not supported");
  }
  std::string_view hostport = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      const auto r = std::from_chars(db.data(), db.data() + db.size(), ep.db);
      if (r.ec != std::errc{} || r.ptr != db.data() + db.size() || ep.db < 0 || ep.db > 15) {
        throw std::invalid_argument(
            fmt::format("database '{}' is not a number from 0 to 15", db.substr(0, 32)));
      }
    }
  }
  std::string_view port;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("unterminated [IPv6] host");
    }
    ep.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw std::invalid_argument("expected ':port' after the [IPv6] host");
      }
      port = after.substr(1);
    }
  } else {
    const auto colon = hostport.find(':');
    ep.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
    }
  }
  if (ep.host.empty()) {
    throw std::invalid_argument("the host is missing");
  }
  const bool port_given =
      !port.empty() || (hostport.front() != '[' && hostport.find(':') != std::string_view::npos);
  if (port_given) {
    int p = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || r.ec != std::errc{} || r.ptr != port.data() + port.size() || p < 1 ||
        p > 65535) {
      throw std::invalid_argument(
          fmt::format("port '{}' is not a number from 1 to 65535", port.substr(0, 16)));
    }
    ep.port = static_cast<std::uint16_t>(p);
  }
  return ep;
}

}  // namespace pdl::redis
