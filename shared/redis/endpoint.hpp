#pragma once
// Where the Redis backbone lives: OPAL_BROADCAST_URI's redis:// and redis-sentinel:// forms,
// parsed and checked.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/log/secret.hpp"

namespace pdl::redis {

/** One host and port ("host:port", an IPv6 literal in brackets, when shown). */
struct host_port {
  std::string host;  // lower-case; an IPv6 literal without its brackets
  std::uint16_t port = 0;

  std::string describe() const;
  friend bool operator==(const host_port&, const host_port&) = default;
};

struct endpoint {
  /** The data node (redis://). Empty with Sentinel: the sentinels name it (client.hpp). */
  std::string host;
  std::uint16_t port = 6379;
  std::string username;  // Redis 6 ACL user of the data nodes; empty = the default user
  secret password;       // of the data nodes; empty = no AUTH. Sentinels get no AUTH.
  int db = 0;            // SELECT n

  /** redis-sentinel://: the sentinels to ask, in order, and the name they know the primary by.
   *  Empty for redis://. */
  std::vector<host_port> sentinels;
  std::string master_name;

  bool uses_sentinel() const noexcept { return !sentinels.empty(); }

  /** "host:port/db", or "sentinel master 'name' via h1:p1,h2:p2 /db"; never the password:
   *  what logs and errors may show. */
  std::string describe() const;
};

/** At most this many sentinels in one URI. */
inline constexpr std::size_t max_sentinels = 16;
/** Sentinels listen here unless the URI names a port. */
inline constexpr std::uint16_t default_sentinel_port = 26379;

/**
 * Parses `redis://[[user]:password@]host[:port][/db]` or
 * `redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master-name` (Lettuce's
 * form; sentinel ports default to 26379). Hosts may be [IPv6] literals; user and password are
 * percent-decoded and are the data nodes' (sentinels are asked without AUTH); host names
 * lower-cased. A master name is 1 to 128 characters from A-Z a-z 0-9 _ - . : (percent-escapes
 * decoded first).
 * @throws std::invalid_argument with a message that names the faulty part but never contains
 *         the password (other schemes, `rediss://` included, are refused: TLS to Redis is not
 *         supported yet).
 */
endpoint parse_uri(std::string_view uri);

}  // namespace pdl::redis
