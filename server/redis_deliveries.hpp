#pragma once
// Delivery status across replicas, through Redis (docs/replicas.md, "Delivery status").
//
// Each replica keeps its own delivery_tracker (the hot path: no Redis there) and, from a thread
// of its own every flush_interval, writes the agents whose state changed since the last flush:
//   <prefix>:dlv:<seq>             hash, field "<replica>:<agent>" (delivery_merge.hpp), PEXPIRE
//                                  entry_ttl; deleted when the update leaves the tracked window
//   <prefix>:dlv:alive:<replica>   the seq through which this replica has written its agents'
//                                  states, SET PX alive_ttl (a heartbeat: gone = replica gone)
//   <prefix>:dlv:replicas          set of replica ids (members whose heartbeat is gone are
//                                  pruned)
// Any replica answers GET /data/updates/{id} by merging its own live view with the others'
// (status_json). Writes are batched: one HSET per changed update per flush, whatever the number
// of agents, never a round trip per agent.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/delivery_tracker.hpp"
#include "shared/redis/client.hpp"

namespace pdl::server {

struct redis_deliveries_options {
  redis::endpoint where;
  std::string key_prefix = "pdl";
  /** This replica's id ([0-9a-z-], 1..64; the server id). */
  std::string replica_id;
  std::chrono::milliseconds timeout{2000};  // per command
  std::chrono::milliseconds flush_interval{100};
  /** The heartbeat is rewritten at least this often (and whenever its seq moves). */
  std::chrono::milliseconds heartbeat_interval{1000};
  /** A replica whose heartbeat is older than this is taken for gone. */
  std::chrono::milliseconds alive_ttl{10000};
  /** How long the other replicas' agents of one update stay readable at most. */
  std::chrono::milliseconds entry_ttl{std::chrono::hours(1)};
  /** At most this many fields are read for one answer (4 replicas x 100,000 agents). */
  std::size_t max_fields_read = 400000;
};

/**
 * @par Thread safety
 * status_json() and log_head() from any thread; they wait for Redis, so never on an I/O thread
 * or a strand (the route is `blocking`). start()/stop() from one thread.
 */
class redis_deliveries {
 public:
  /** @param published_seq the seq through which this replica has fanned updates out
   *  (update_intake::published_seq); called on the flush thread. */
  redis_deliveries(redis_deliveries_options options, delivery_tracker& tracker,
                   std::function<std::uint64_t()> published_seq);
  ~redis_deliveries();
  redis_deliveries(const redis_deliveries&) = delete;
  redis_deliveries& operator=(const redis_deliveries&) = delete;

  /** Starts recording the tracker's changes and the flush thread. */
  void start();
  /** Flushes what changed one last time (best effort, within the command timeout), removes
   *  this replica's heartbeat (the others stop waiting for it at once) and joins the thread.
   *  Idempotent. */
  void stop();

  /**
   * The status document of update @p local (this replica's snapshot of it) for the whole
   * cluster: @p local merged with the other replicas' agents (merge_deliveries). Fields that
   * break the encoding are skipped and logged, never fail the answer.
   * @throws redis::redis_error when Redis cannot be read.
   */
  std::string status_json(const update_delivery& local);

  /** The last seq the shared log assigned (<prefix>:seq, written by redis_update_log).
   *  @throws redis::redis_error */
  std::uint64_t log_head();

  const std::string& replica_id() const noexcept { return opts_.replica_id; }

 private:
  void run();
  /** One flush: changes, evictions, heartbeat. @throws redis::redis_error (changes given back). */
  void flush();
  void write_changes();
  void delete_evicted();
  std::string key_of(std::uint64_t seq) const;
  std::string alive_key(const std::string& replica) const;

  redis_deliveries_options opts_;
  delivery_tracker& tracker_;
  std::function<std::uint64_t()> published_seq_;
  std::unique_ptr<redis::client> redis_;

  // Flush thread state (touched by that thread, and by stop() after joining it).
  std::uint64_t sampled_seq_ = 0;      // published seq seen at the previous flush
  std::uint64_t through_written_ = 0;  // what the heartbeat says
  std::uint64_t deleted_below_ = 0;    // keys of lower seqs are gone (0: not started)
  std::chrono::steady_clock::time_point last_heartbeat_{};
  unsigned heartbeats_ = 0;
  bool failing_ = false;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread thread_;
};

}  // namespace pdl::server
