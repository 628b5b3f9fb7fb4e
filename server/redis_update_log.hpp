#pragma once
// update_log in Redis, shared by every server replica (docs/replicas.md).
//
// Keys (prefix from broadcast.key_prefix):
//   <prefix>:log     a Stream; entry id "<seq>-0", fields id, topics ("\n"-joined), at (ms), u
//                    (the update's JSON with its seq)
//   <prefix>:seq     the last assigned seq (INCR)
//   <prefix>:log_id  names the seq space (X-PDL-Log-Id); a Redis that lost its data gets a new one
//   <prefix>:fanout:<uuid>  with min_replicas: the seq a replica's tail is about to deliver (a
//                    write for its WAIT to cover; expires after a minute)
// One Lua script checks the log id, INCRs the seq and XADDs the entry atomically, so the stream
// holds every seq in order with no gap, whichever replica appended it. Each replica tails the
// stream (XREAD BLOCK on a connection of its own) and fans every entry out to its own agents in
// seq order: its own appends included, so all replicas deliver the same sequence.
//
// Failover (Redis Sentinel, docs/replicas.md). With min_replicas > 0 an append is acknowledged
// only once WAIT says that many replicas have it, and the tail delivers an entry only once a
// WAIT of its own (after a marker write, which follows the entry in the replication stream) says
// the same: so agents never see an entry that a failover can lose, and seqs are never reused
// under them. Whatever the settings, the tail checks after every reconnection and every idle
// second that the last entry it delivered is still in the stream with the same update id; if
// it is not (the new primary lacked it: min_replicas 0, a lagging replica promoted), the log
// no longer matches what agents applied, and the tail gives the log a new id: every replica
// then refuses to publish and fails /healthy, and restarted replicas serve the new log id, on
// which agents reload their data from scratch.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/update_log.hpp"
#include "shared/redis/client.hpp"

namespace pdl::server {

struct redis_log_options {
  redis::endpoint where;
  std::string key_prefix = "pdl";
  std::size_t retained_updates = 1'000'000;   // XADD MAXLEN ~
  std::chrono::milliseconds timeout{2000};    // per command
  std::chrono::milliseconds tail_block{1000}; // XREAD BLOCK
  /** WAIT for this many replicas after each append (else update_log_error) and before the tail
   *  delivers an entry; 0 = neither. */
  int min_replicas = 0;
  std::chrono::milliseconds min_replicas_timeout{1000};  // WAIT's timeout
};

class redis_update_log final : public update_log {
 public:
  /** Called by the tail thread for each entry, in seq order, never twice for one seq. */
  using entry_handler = std::function<void(std::uint64_t seq, model::data_update update)>;
  /** Called by the tail thread with the seq it starts after, when it positions itself at the
   *  head it found (start_tail(0, ...)): nothing up to there is handed to the entry handler. */
  using position_handler = std::function<void(std::uint64_t seq)>;

  /** Does not need Redis to be up: the log id and the head are learnt on first contact (tried
   *  once here, then by the tail until it succeeds). */
  explicit redis_update_log(redis_log_options options);
  ~redis_update_log() override;

  /** @throws update_log_error when Redis is unreachable, slow or refuses (then the update may
   *  or may not be stored: a timed-out script can still run; the id tells, see
   *  GET /data/updates/{id}). A log id change (Redis lost its data) is refused too, and so is
   *  an update fewer than min_replicas replicas confirmed (for_publisher() says so). */
  std::uint64_t append(const model::data_update& update) override;
  std::vector<model::data_update> since(std::uint64_t seq) const override;
  /** The highest seq this replica has seen (appended or tailed); no round trip. */
  std::uint64_t head() const override;
  log_batch read(std::uint64_t after_seq, std::uint64_t up_to,
                 const std::set<std::string>& topics, std::size_t max_records,
                 std::size_t max_bytes) const override;
  std::uint64_t first_seq() const override;
  /** Never waits for Redis: empty until the constructor, the tail or an append reached it. */
  std::string log_id() const override;
  bool shared() const override { return true; }
  /** False while Redis is unreachable or the tail is not reading. */
  bool healthy() const override;
  std::string fatal_error() const override;

  /** Starts tailing after @p after_seq (the caller's published seq; 0 = from the head found at
   *  first contact, so a fresh replica does not fan out history). */
  void start_tail(std::uint64_t after_seq, entry_handler on_entry,
                  position_handler on_position = {});

 private:
  /** Where the tail is: the last seq it delivered (or started after) and that entry's update
   *  id (empty until learnt). */
  struct tail_position {
    std::uint64_t seq = 0;
    std::string id;
  };
  /** The rewind check (see the banner): false when the log is no longer the one we served
   *  (then identity_lost_ is set). @throws redis::redis_error */
  bool still_continuous(tail_position& at);
  /** Gives the log in Redis a new id (if it still has @p expected) after a rewind. */
  void replace_log_id(const std::string& expected, const std::string& why);
  /** With min_replicas: a marker write and WAIT on the tail's connection; true when enough
   *  replicas have everything up to @p seq. @throws redis::redis_error */
  bool replicated(std::uint64_t seq, int& acked);
  /** SET NX / GET of the log id and GET of the seq; true once both are known. */
  bool ensure_identity() const;
  void tail_loop(std::uint64_t after_seq);
  std::string key(const char* suffix) const { return opts_.key_prefix + ":" + suffix; }
  void note_head(std::uint64_t seq) const;

  redis_log_options opts_;
  std::unique_ptr<redis::client> commands_;  // appends and reads (pipelined)
  std::unique_ptr<redis::client> tail_;      // the blocking XREAD
  entry_handler on_entry_;
  position_handler on_position_;
  std::string instance_;  // names this process's fan-out marker

  mutable std::mutex mu_;
  mutable std::string log_id_;  // guarded by mu_; empty until first contact
  mutable std::string script_sha_;  // guarded by mu_
  mutable std::atomic<std::uint64_t> head_{0};
  mutable std::atomic<std::uint64_t> identity_head_{0};  // GET seq at first contact
  std::atomic<bool> tail_ok_{false};
  mutable std::atomic<bool> identity_lost_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread tail_thread_;
};

}  // namespace pdl::server
