#pragma once
// Delivery status per update (GET /data/updates/{id}): which agents the update was handed to
// (live or by replay), which applied it and which failed, with their errors. Bounded: only the
// last `max_tracked` accepted updates are kept (older ids answer 404).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace pdl::server {

class delivery_tracker {
 public:
  /** Bounds on what one acknowledgement may carry (longer input is cut, never refused; cuts
   *  fall on a UTF-8 character boundary and ill-formed sequences become U+FFFD). */
  static constexpr std::size_t max_agent_id_bytes = 256;
  static constexpr std::size_t max_errors = 20;
  static constexpr std::size_t max_error_bytes = 1024;
  /** Agents tracked per update; more are counted but not listed. */
  static constexpr std::size_t max_agents_per_update = 100000;

  /** @param max_tracked at least 1. */
  explicit delivery_tracker(std::size_t max_tracked);

  /** Starts tracking an accepted update (drops the oldest past the bound). */
  void accepted(const std::string& id, std::uint64_t seq, std::vector<std::string> topics,
                std::chrono::system_clock::time_point at);
  /** The update with @p seq was queued for @p agent. Unknown seqs are ignored. */
  void delivered(std::uint64_t seq, const std::string& agent);
  /** delivered() for each of @p agents, under one lock (a lane's share of a fan-out). */
  void delivered(std::uint64_t seq, const std::vector<const std::string*>& agents);
  /**
   * @p agent reports the outcome for update @p id (or, when the id is unknown, @p seq).
   * An agent that applied it after failing moves to applied (and the reverse).
   * @return false when the update is not tracked.
   */
  bool acknowledged(const std::string& id, std::uint64_t seq, const std::string& agent, bool ok,
                    std::vector<std::string> errors);

  /** The seq of tracked update @p id. */
  std::optional<std::uint64_t> seq_of(const std::string& id) const;

  /** The status document of docs/protocol.md, or nullopt for an untracked id. */
  std::optional<std::string> status_json(const std::string& id) const;

  std::size_t tracked() const;
  /** How many updates are kept (the constructor's bound). */
  std::size_t capacity() const noexcept { return max_tracked_; }

 private:
  struct agent_state {
    enum class kind { pending, applied, failed } state = kind::pending;
    std::vector<std::string> errors;
  };
  struct update_state {
    std::string id;
    std::uint64_t seq = 0;
    std::vector<std::string> topics;
    std::chrono::system_clock::time_point accepted_at;
    std::map<std::string, agent_state> agents;
  };
  update_state* find(const std::string& id, std::uint64_t seq);  // mu_ held

  std::size_t max_tracked_;
  mutable std::mutex mu_;
  std::deque<update_state> updates_;                        // guarded by mu_, ascending seq
  std::unordered_map<std::string, std::uint64_t> by_id_;   // guarded by mu_: id -> seq
};

}  // namespace pdl::server
