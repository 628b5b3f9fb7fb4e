#pragma once
// Delivery status across replicas (docs/replicas.md, "Delivery status"): how one replica's
// agents are written to Redis, read back (with limits and a schema check: what Redis holds is
// input like any other), and merged with the answering replica's own live view. Pure functions;
// redis_deliveries does the I/O.
//
// Encoding, in the hash <prefix>:dlv:<seq>:
//   field  "<replica id>:<agent id>"   replica id: [0-9a-z-], 1..64; agent id: 1..256 bytes
//   value  "<s><ms>" [ "\n" <JSON array of error strings> ]
//          s: 'p' pending, 'a' applied, 'f' failed; ms: when the outcome was reported (decimal,
//          ms since the Unix epoch, 0 while pending); the errors only after 'f'.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/delivery_status.hpp"

namespace pdl::server {

/** Limits on what is read back from Redis (writes stay well within them). */
struct delivery_limits {
  static constexpr std::size_t max_replica_id_bytes = 64;
  static constexpr std::size_t max_field_bytes = max_replica_id_bytes + 1 + 256;
  static constexpr std::size_t max_value_bytes = 32 * 1024;
  static constexpr std::size_t max_errors = 20;
  static constexpr std::size_t max_error_bytes = 1024;
};

/** True for a well-formed replica id ([0-9a-z-], 1..64 bytes). */
bool valid_replica_id(std::string_view id);

std::string encode_delivery_field(std::string_view replica, std::string_view agent);
/** {replica, agent}, or nullopt when the field breaks the encoding or its limits. The agent id
 *  is repaired (invalid UTF-8 becomes U+FFFD), never trusted to be. */
std::optional<std::pair<std::string, std::string>> decode_delivery_field(std::string_view field);

std::string encode_delivery_value(const agent_delivery& a);
/** The state, time and errors (agent left empty), or nullopt when @p value breaks the encoding
 *  or its limits. Error texts are cut and repaired as the tracker does. */
std::optional<agent_delivery> decode_delivery_value(std::string_view value);

/** The other replicas as Redis knows them: the live ones (their heartbeat key exists) and the
 *  seq through which each has shared its agents' states. */
using live_replicas = std::map<std::string, std::uint64_t>;

struct merged_delivery {
  update_delivery update;
  bool complete = false;
  replica_coverage coverage;
  std::size_t ignored_fields = 0;  // fields that broke the encoding (the caller logs them)
};

/**
 * Merges this replica's view (@p local, from its tracker, live) with the other replicas' agents
 * (@p fields of <prefix>:dlv:<seq>; this replica's own fields are skipped, @p local is newer).
 *
 * Per agent: the latest outcome (applied or failed, by its time; a tie goes to failed) wins
 * wherever it was reported; else the agent is pending if a live replica (this one included)
 * has it pending; an agent pending only on a replica that is gone is left out (it is
 * connected nowhere, as after a single server's restart).
 * `complete`: nobody pending, and every live replica has shared its agents through the seq;
 * the others are listed in coverage.waiting.
 */
merged_delivery merge_deliveries(const update_delivery& local, std::string_view self,
                                 const std::vector<std::pair<std::string, std::string>>& fields,
                                 const live_replicas& others);

}  // namespace pdl::server
