#pragma once
// update_log in Redis, shared by every server replica (docs/replicas.md).
//
// Keys (prefix from broadcast.key_prefix):
//   <prefix>:log     a Stream; entry id "<seq>-0", fields id, topics ("\n"-joined), at (ms), u
//                    (the update's JSON with its seq)
//   <prefix>:seq     the last assigned seq (INCR)
//   <prefix>:log_id  names the seq space (X-PDL-Log-Id); a Redis that lost its data gets a new one
// One Lua script checks the log id, INCRs the seq and XADDs the entry atomically, so the stream
// holds every seq in order with no gap, whichever replica appended it. Each replica tails the
// stream (XREAD BLOCK on a connection of its own) and fans every entry out to its own agents in
// seq order: its own appends included, so all replicas deliver the same sequence.
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
};

class redis_update_log final : public update_log {
 public:
  /** Called by the tail thread for each entry, in seq order, never twice for one seq. */
  using entry_handler = std::function<void(std::uint64_t seq, model::data_update update)>;

  /** Does not need Redis to be up: the log id and the head are learnt on first contact (tried
   *  once here, then by the tail until it succeeds). */
  explicit redis_update_log(redis_log_options options);
  ~redis_update_log() override;

  /** @throws update_log_error when Redis is unreachable, slow or refuses (then the update may
   *  or may not be stored: a timed-out script can still run; the id tells, see
   *  GET /data/updates/{id}). A log id change (Redis lost its data) is refused too. */
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
  void start_tail(std::uint64_t after_seq, entry_handler on_entry);

 private:
  /** SET NX / GET of the log id and GET of the seq; true once both are known. */
  bool ensure_identity() const;
  void tail_loop(std::uint64_t after_seq);
  std::string key(const char* suffix) const { return opts_.key_prefix + ":" + suffix; }
  void note_head(std::uint64_t seq) const;

  redis_log_options opts_;
  std::unique_ptr<redis::client> commands_;  // appends and reads (pipelined)
  std::unique_ptr<redis::client> tail_;      // the blocking XREAD
  entry_handler on_entry_;

  mutable std::mutex mu_;
  mutable std::string log_id_;  // guarded by mu_; empty until first contact
  mutable std::string script_sha_;  // guarded by mu_
  mutable std::atomic<std::uint64_t> head_{0};
  std::atomic<bool> tail_ok_{false};
  mutable std::atomic<bool> identity_lost_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread tail_thread_;
};

}  // namespace pdl::server
