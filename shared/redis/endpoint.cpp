#include "shared/redis/endpoint.hpp"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "shared/http/url.hpp"

namespace pdl::redis {
namespace {

constexpr std::size_t max_uri_length = 4096;
constexpr std::size_t max_master_name = 128;
constexpr std::string_view sentinel_scheme = "redis-sentinel";

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

/** The path of a parsed redis URL ("", "/" or "/<db>") as a database number. */
int parse_db(std::string_view path) {
  if (!path.empty()) {
    path.remove_prefix(1);  // the path's '/'
  }
  int db = 0;
  if (!path.empty()) {
    const auto r = std::from_chars(path.data(), path.data() + path.size(), db);
    if (r.ec != std::errc{} || r.ptr != path.data() + path.size() || db < 0 || db > 15) {
      throw std::invalid_argument(
          fmt::format("database '{}' is not a number from 0 to 15", path.substr(0, 32)));
    }
  }
  return db;
}

/** User and password from a parsed URL's userinfo, as redis-py reads them. */
void take_credentials(const parsed_url& u, endpoint& ep) {
  if (!u.has_userinfo()) {
    return;
  }
  if (auto password = u.password()) {
    ep.username = u.user();
    ep.password = secret(std::move(*password));
  } else {
    // redis://secret@host: redis-py reads a lone userinfo as the password.
    ep.password = secret(u.user());
  }
}

bool valid_master_name(std::string_view name) {
  constexpr std::string_view allowed =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:";
  return !name.empty() && name.size() <= max_master_name &&
         name.find_first_not_of(allowed) == std::string_view::npos;
}

/** True when the host[:port] text @p piece writes a non-empty port. */
bool has_explicit_port(std::string_view piece) {
  const auto colon = piece.rfind(':');
  const auto bracket = piece.rfind(']');
  return colon != std::string_view::npos &&
         (bracket == std::string_view::npos || colon > bracket) && colon + 1 < piece.size();
}

endpoint parse_sentinel_uri(std::string_view uri) {
  constexpr std::string_view form =
      "redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master-name";
  std::string_view rest = uri.substr(sentinel_scheme.size() + 3);
  // The last '#': a master name has none, and a password's stray '#' then fails the name check
  // (whose message never quotes the name, which could hold the password's tail).
  const auto hash = rest.rfind('#');
  if (hash == std::string_view::npos) {
    throw std::invalid_argument(
        fmt::format("the primary's name is missing: expected {}", form));
  }
  endpoint ep;
  ep.master_name = percent_decode(rest.substr(hash + 1));
  if (!valid_master_name(ep.master_name)) {
    throw std::invalid_argument(fmt::format(
        "the master name after '#' must be 1 to {} characters from A-Z a-z 0-9 _ - . :",
        max_master_name));
  }
  rest = rest.substr(0, hash);
  // The last '@' ends the userinfo, as in redis:// (parsed_url) and Python's urllib.
  const auto at = rest.rfind('@');
  const std::string_view userinfo =
      at == std::string_view::npos ? std::string_view() : rest.substr(0, at);
  const std::string_view after = at == std::string_view::npos ? rest : rest.substr(at + 1);
  if (after.find('?') != std::string_view::npos) {
    throw std::invalid_argument("query parameters are not supported");
  }
  const auto slash = after.find('/');
  const std::string_view hosts = after.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view() : after.substr(slash);
  std::vector<std::string_view> pieces;
  for (std::size_t start = 0;;) {
    const auto comma = hosts.find(',', start);
    pieces.push_back(hosts.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  if (pieces.size() > max_sentinels) {
    throw std::invalid_argument(
        fmt::format("{} sentinels named, at most {} are supported", pieces.size(), max_sentinels));
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const auto piece = pieces[i];
    const auto which = pieces.size() == 1 ? std::string("the sentinel")
                                          : fmt::format("sentinel {} of {}", i + 1, pieces.size());
    if (piece.empty()) {
      throw std::invalid_argument(fmt::format("{}: no host (a stray ',' or an empty list)", which));
    }
    // Each host is checked by the one URL parser; the first carries the userinfo and the path.
    std::string text = "redis://";
    if (i == 0 && at != std::string_view::npos) {
      text.append(userinfo).append("@");
    }
    text.append(piece);
    if (i == 0) {
      text.append(path);
    }
    std::string why;
    const auto u = parsed_url::parse(text, {"redis"}, why);
    if (!u) {
      throw std::invalid_argument(fmt::format("{}: {}", which, why));
    }
    host_port hp{u->host(), has_explicit_port(piece) ? u->port() : default_sentinel_port};
    for (const auto& seen : ep.sentinels) {
      if (seen == hp) {
        throw std::invalid_argument(fmt::format("{}: {} is named twice", which, hp.describe()));
      }
    }
    ep.sentinels.push_back(std::move(hp));
    if (i == 0) {
      take_credentials(*u, ep);
      ep.db = parse_db(u->path());
    }
  }
  ep.host.clear();
  ep.port = 0;
  return ep;
}

}  // namespace

std::string host_port::describe() const { return fmt::format("{}:{}", bracketed(host), port); }

std::string endpoint::describe() const {
  if (!uses_sentinel()) {
    return fmt::format("{}:{}/{}", bracketed(host), port, db);
  }
  std::string via;
  for (const auto& s : sentinels) {
    via += (via.empty() ? "" : ",") + s.describe();
  }
  return fmt::format("sentinel master '{}' via {} /{}", master_name, via, db);
}

endpoint parse_uri(std::string_view uri) {
  if (uri.size() > max_uri_length) {
    throw std::invalid_argument(fmt::format("longer than {} characters", max_uri_length));
  }
  const std::string scheme = url_scheme(uri);
  if (scheme == sentinel_scheme) {
    return parse_sentinel_uri(uri);
  }
  std::string why;
  const auto u = parsed_url::parse(uri, {"redis"}, why);
  if (!u) {
    if (scheme == "redis") {
      throw std::invalid_argument(why);
    }
    throw std::invalid_argument(fmt::format(
        "expected redis://[[user]:password@]host[:port][/db] or "
        "redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master-name: {}{}",
        why, scheme == "rediss" ? " (TLS to Redis is not supported yet)" : ""));
  }
  if (u->query()) {
    throw std::invalid_argument("query parameters are not supported");
  }
  if (u->fragment()) {
    throw std::invalid_argument(
        "a fragment is not supported (a master name after '#' needs redis-sentinel://)");
  }
  endpoint ep;
  ep.host = u->host();
  ep.port = u->port();
  take_credentials(*u, ep);
  ep.db = parse_db(u->path());
  return ep;
}

}  // namespace pdl::redis
