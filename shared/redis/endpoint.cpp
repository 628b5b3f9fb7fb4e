#include "shared/redis/endpoint.hpp"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "shared/http/url.hpp"

namespace pdl::redis {
namespace {

constexpr std::size_t max_uri_length = 4096;

}  // namespace

std::string endpoint::describe() const {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}/{}", v6 ? "[" : "", host, v6 ? "]" : "", port, db);
}

endpoint parse_uri(std::string_view uri) {
  if (uri.size() > max_uri_length) {
    throw std::invalid_argument(fmt::format("longer than {} characters", max_uri_length));
  }
  std::string why;
  const auto u = parsed_url::parse(uri, {"redis"}, why);
  if (!u) {
    const std::string scheme = url_scheme(uri);
    if (scheme == "redis") {
      throw std::invalid_argument(why);
    }
    throw std::invalid_argument(fmt::format(
        "expected redis://[[user]:password@]host[:port][/db]: {}{}", why,
        scheme == "rediss" ? " (TLS to Redis is not supported yet)" : ""));
  }
  if (u->query()) {
    throw std::invalid_argument("query parameters are not supported");
  }
  if (u->fragment()) {
    throw std::invalid_argument("a fragment is not supported");
  }
  endpoint ep;
  ep.host = u->host();
  ep.port = u->port();
  if (u->has_userinfo()) {
    if (auto password = u->password()) {
      ep.username = u->user();
      ep.password = secret(std::move(*password));
    } else {
      // redis://secret@host: redis-py reads a lone userinfo as the password.
      ep.password = secret(u->user());
    }
  }
  std::string_view db = u->path();
  if (!db.empty()) {
    db.remove_prefix(1);  // the path's '/'
  }
  if (!db.empty()) {
    const auto r = std::from_chars(db.data(), db.data() + db.size(), ep.db);
    if (r.ec != std::errc{} || r.ptr != db.data() + db.size() || ep.db < 0 || ep.db > 15) {
      throw std::invalid_argument(
          fmt::format("database '{}' is not a number from 0 to 15", db.substr(0, 32)));
    }
  }
  return ep;
}

}  // namespace pdl::redis
