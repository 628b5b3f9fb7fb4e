#pragma once
// What the agent knows about itself: readiness, health and the per-destination record behind
// /ready, /healthy and /status. Lives on the io_context thread (no locks: single-threaded agent).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace pdl::agent {

struct destination_record {
  std::optional<std::chrono::system_clock::time_point> last_success;
  std::optional<std::chrono::system_clock::time_point> last_error_at;
  std::string last_error;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
};

struct health_verdict {
  bool healthy = false;
  std::string reason;  // why not (or, when healthy but offline, why offline)
  bool online = true;  // false: serving restored (possibly stale) data without the server
  /** Healthy, but an update has waited longer than the configured age (a slow or hanging
   *  source): @c reason says which age. Not a reason to restart the agent. */
  bool degraded = false;
};

/**
 * Readiness: the engine was reachable and the initial data load succeeded (an empty or
 * non-matching base config counts). Once ready, always ready.
 * Health: engine reachable (last probe), connected to the server, and no destination whose
 * latest write failed (per destination, so a failure is not hidden by a success elsewhere).
 * Each flips back when its cause recovers: a later successful write to that destination, or a
 * new server connection (which reloads the base data).
 * Offline mode (set_offline_mode: a data directory and ready_when_stale): the agent may turn ready
 * from its backup before any server connection (set_restored_from_backup), and while the server
 * is unreachable it stays healthy with online=false (OPAL's offline mode answers the same way),
 * provided the engine is reachable and no write is failing.
 */
class agent_state {
 public:
  // ---- inputs ----
  void set_engine_reachable(bool up);
  void set_connected(bool connected, std::string server_url, std::string reason = {});
  void set_initial_load_done();
  void set_offline_mode(bool on) { offline_mode_ = on; }
  /** The engine holds the data restored from the backup (or already held it). In offline mode
   *  this makes the agent ready (stale until the next server connection). */
  void set_restored_from_backup();
  void set_agent_id(std::string id) { agent_id_ = std::move(id); }
  void record_success(const std::string& dst_path);
  /** A write the engine refused or that did not reach it: health off until a later success. */
  void record_write_failure(const std::string& dst_path, const std::string& error);
  /** A fetch (or data) problem: recorded for /status, health unchanged. */
  void record_fetch_failure(const std::string& dst_path, const std::string& error);
  void set_last_applied_seq(std::uint64_t seq) { last_applied_seq_ = seq; }
  void count_update_received() { ++updates_received_; }
  void count_update_dropped() { ++updates_dropped_; }
  void count_duplicate() { ++duplicates_; }
  /** Where the age of the oldest open update comes from (the updater), and the age past which
   *  health reports degraded (zero: never). */
  void set_pending_age(std::function<std::optional<std::chrono::steady_clock::time_point>()> since,
                       std::chrono::milliseconds degraded_after) {
    pending_since_ = std::move(since);
    degraded_after_ = degraded_after;
  }
  /** An internal task keeps failing: /healthy fails for good, so the orchestrator restarts us. */
  void set_fatal(std::string reason) { fatal_ = std::move(reason); }

  // ---- outputs ----
  bool ready() const noexcept { return ready_; }
  health_verdict health() const;
  bool engine_reachable() const noexcept { return engine_reachable_; }
  bool connected() const noexcept { return connected_; }
  bool stale() const noexcept { return stale_; }
  /** A destination's latest write failed (health is off for it). */
  bool writes_failing() const noexcept { return !failing_writes_.empty(); }
  std::optional<std::uint64_t> last_applied_seq() const noexcept { return last_applied_seq_; }
  const std::map<std::string, destination_record>& destinations() const noexcept {
    return destinations_;
  }
  /** How long the oldest update not yet completed has waited; nullopt when none is open. */
  std::optional<std::chrono::steady_clock::duration> oldest_pending_age() const;
  /** The /status document (JSON text). */
  std::string status_json() const;

 private:
  void update_ready();

  std::string fatal_;
  std::function<std::optional<std::chrono::steady_clock::time_point>()> pending_since_;
  std::chrono::milliseconds degraded_after_{0};
  bool engine_reachable_ = false;
  bool engine_seen_ = false;
  bool connected_ = false;
  bool initial_load_done_ = false;
  bool ready_ = false;
  bool offline_mode_ = false;
  bool stale_ = false;
  std::string agent_id_;
  std::string server_url_;
  std::string disconnect_reason_;
  /** Destinations whose latest write failed, with that error: health is off while not empty. */
  std::map<std::string, std::string> failing_writes_;
  std::string last_write_error_;
  std::optional<std::uint64_t> last_applied_seq_;
  std::map<std::string, destination_record> destinations_;
  std::uint64_t updates_received_ = 0;
  std::uint64_t updates_dropped_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t entries_ok_ = 0;
  std::uint64_t entries_failed_ = 0;
  std::uint64_t reconnects_ = 0;
};

}  // namespace pdl::agent
