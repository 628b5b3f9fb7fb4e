#pragma once
// What the server knows about one published update: which agents it went to, which applied it,
// which failed and why (docs/protocol.md, "Delivery status: GET /data/updates/{id}").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pdl::publisher {

/** One agent that reported it could not apply the update. */
struct agent_failure {
  std::string agent;
  std::vector<std::string> errors;  // e.g. "/users: fetch failed: HTTP 401"
};

struct delivery_status {
  std::string id;
  std::optional<std::uint64_t> seq;
  std::vector<std::string> topics;
  std::string accepted_at;               // RFC 3339, as the server wrote it ("" when absent)
  bool complete = false;                 // true when `pending` is empty
  std::vector<std::string> subscribed;   // agents the update was delivered to
  std::vector<std::string> applied;
  std::vector<agent_failure> failed;
  std::vector<std::string> pending;      // delivered, not acknowledged (OPAL clients stay here)
  /** Server replicas that have not reported their agents for this update yet (servers with
   *  replicas only: "replicas": {"waiting": [...]}). */
  std::vector<std::string> waiting_replicas;

  /** Every subscribed agent applied it: complete and nothing failed. */
  bool all_applied() const noexcept { return complete && failed.empty(); }
};

/**
 * Reads the server's answer. Required: "id" (string), "complete" (bool), "agents" (object whose
 * "subscribed", "applied", "pending" are lists of strings and "failed" a list of
 * {"agent": string, "errors": [string]}; a missing list is empty). Optional: "seq", "topics",
 * "accepted_at", "replicas" ({"waiting": [string]}, other members ignored). Text from the server (agent ids, errors) has control characters replaced and
 * is cut to a sane length, since the CLI prints it to a terminal. Lists are capped at
 * 100000 agents.
 * @throws std::invalid_argument naming the offending field ("agents.failed[1].agent: expected a
 *         string").
 */
delivery_status parse_delivery_status(const nlohmann::json& doc);

}  // namespace pdl::publisher
