#pragma once
// Where the Redis backbone lives: OPAL_BROADCAST_URI's redis:// form, parsed and checked.
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/log/secret.hpp"

namespace pdl::redis {

struct endpoint {
  std::string host;
  std::uint16_t port = 6379;
  std::string username;  // Redis 6 ACL user; empty = the default user
  secret password;       // empty = no AUTH
  int db = 0;            // SELECT n

  /** "host:port/db", never the password: what logs and errors may show. */
  std::string describe() const;
};

/**
 * Parses `redis://[[user]:password@]host[:port][/db]` (host may be an [IPv6] literal) with
 * parsed_url (shared/http/url): user and password percent-decoded, host lower-cased.
 * @throws std::invalid_argument with a message that names the faulty part but never contains
 *         the password (other schemes, `rediss://` included, are refused: TLS to Redis is not
 *         supported yet).
 */
endpoint parse_uri(std::string_view uri);

}  // namespace pdl::redis
