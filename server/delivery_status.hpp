#pragma once
// What one update's delivery looks like (GET /data/updates/{id}, docs/protocol.md): the agents
// it went to and what each reported. delivery_tracker keeps these per replica;
// delivery_merge combines the replicas' views; status_document() renders either.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pdl::server {

enum class delivery_state : std::uint8_t { pending, applied, failed };

struct agent_delivery {
  std::string agent;
  delivery_state state = delivery_state::pending;
  std::vector<std::string> errors;  // failed only
  /** When the outcome was reported (ms since the Unix epoch, the reporting replica's clock);
   *  0 while pending. Orders the reports of one agent made on two replicas. */
  std::int64_t at_ms = 0;
};

struct update_delivery {
  std::string id;
  std::uint64_t seq = 0;
  std::vector<std::string> topics;
  std::chrono::system_clock::time_point accepted_at;
  std::vector<agent_delivery> agents;  // ascending by agent, one entry per agent
};

/** With replicas (broadcast.uri): which replicas the answer covers. */
struct replica_coverage {
  std::size_t reported = 0;           // live replicas (this one included) that reported the seq
  std::vector<std::string> waiting;   // live replicas that have not reported it yet
};

/**
 * The status document of docs/protocol.md: id, seq, topics, accepted_at, complete, agents
 * {subscribed, applied, failed, pending}; with @p coverage also
 * "replicas": {"reported": N, "waiting": [ids]}. Peer text is dumped with invalid UTF-8
 * replaced, so this never throws on it.
 */
std::string status_document(const update_delivery& u, bool complete,
                            const replica_coverage* coverage = nullptr);

/** True when no agent is pending (the single-replica meaning of `complete`). */
bool none_pending(const update_delivery& u);

}  // namespace pdl::server
