#pragma once
// update_log on local disk: append-only segment files (log_segment.hpp) in one directory.
//
// - append() writes the record and, with fsync=always, returns only once it is on disk;
//   concurrent appends share one fdatasync (group commit). A failed write or sync loses only
//   the updates not yet synced: they are cut from the file and their callers get
//   update_log_error (503, nothing delivered).
// - Opening scans the segments, cuts a torn or damaged tail, and continues the sequence.
// - Retention: history older than retention_age, or beyond retention_bytes, is compacted by key
//   (log_compaction.hpp): the records still needed to rebuild the current state survive, the
//   others go. first_seq() tells where the complete range starts. The current state is never
//   dropped, even when it alone exceeds retention_bytes (WARN).
// - One process per directory (an flock on <dir>/LOCK).
// - <dir>/LOG_ID keeps the log id (update_log::log_id) across restarts; a log that opens empty
//   gets a new one.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/log_compaction.hpp"
#include "server/log_segment.hpp"
#include "server/update_log.hpp"
#include "shared/config/server_config.hpp"

namespace pdl::server {

struct file_log_options {
  std::string dir;  // created when missing
  config::fsync_policy fsync = config::fsync_policy::always;
  std::chrono::milliseconds fsync_interval{1000};
  std::size_t segment_bytes = 64 * 1024 * 1024;
  std::size_t retention_bytes = std::size_t{1} << 30;
  std::chrono::seconds retention_age{7 * 24 * 3600};
  /** Runs fsync=interval and retention in a background thread (tests call maintain()). */
  bool background = true;
  /** The clock for accepted_at and retention by age (tests inject their own). */
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

/** What opening found. */
struct file_log_open_report {
  std::size_t records = 0;
  std::size_t segments = 0;
  std::uint64_t cut_bytes = 0;    // torn or damaged bytes cut from segment ends
  std::size_t duplicates = 0;     // records skipped because an earlier segment had their seq
};

class file_update_log final : public update_log {
 public:
  /** Opens or creates the log in opts.dir. @throws update_log_error when the directory cannot
   *  be created, locked or read. */
  explicit file_update_log(file_log_options opts);
  /** Stops the background thread and syncs (unless fsync=never). */
  ~file_update_log() override;
  file_update_log(const file_update_log&) = delete;
  file_update_log& operator=(const file_update_log&) = delete;

  std::uint64_t append(const model::data_update& update) override;
  std::vector<model::data_update> since(std::uint64_t seq) const override;
  std::uint64_t head() const override;
  log_batch read(std::uint64_t after_seq, std::uint64_t up_to,
                 const std::set<std::string>& topics, std::size_t max_records,
                 std::size_t max_bytes) const override;
  std::uint64_t first_seq() const override;

  /** Applies retention now. @return the number of records compaction removed. */
  std::size_t maintain();

  const file_log_open_report& opened() const noexcept { return report_; }
  std::size_t record_count() const;
  std::uint64_t retained_bytes() const;
  std::size_t segment_count() const;

 private:
  struct index_entry {
    std::uint64_t seq = 0;
    std::shared_ptr<log_segment> seg;
    std::uint64_t offset = 0;
    std::uint32_t size = 0;
    std::int64_t accepted_ms = 0;
    std::string id;
    std::vector<std::string> topics;
    std::vector<entry_key> keys;
  };

  void open_existing();
  void adopt_log_id();  // reads <dir>/LOG_ID, or writes a fresh one (see update_log::log_id)
  std::shared_ptr<log_segment> new_segment(std::uint64_t first_seq);  // mu_ held
  void roll(std::unique_lock<std::mutex>& lk);                          // mu_ held
  void wait_durable(std::unique_lock<std::mutex>& lk, std::uint64_t seq);
  void lose_unsynced(int err);                                          // mu_ held
  bool is_lost(std::uint64_t seq) const;                                // mu_ held
  void recompute_first_seq();                                           // mu_ held
  void background_loop();
  std::size_t index_from(std::uint64_t after_seq) const;                // mu_ held
  static index_entry describe(const model::data_update& u);

  const file_log_options opts_;
  int lock_fd_ = -1;
  file_log_open_report report_;

  mutable std::mutex mu_;
  std::condition_variable synced_cv_;
  std::vector<std::shared_ptr<log_segment>> segments_;  // guarded by mu_, ascending; back = active
  std::deque<index_entry> index_;                       // guarded by mu_, ascending seq
  std::uint64_t head_ = 0;                              // guarded by mu_
  std::uint64_t synced_seq_ = 0;                        // guarded by mu_
  std::uint64_t first_seq_ = 1;                         // guarded by mu_
  std::uint64_t total_bytes_ = 0;                       // guarded by mu_
  bool syncing_ = false;                                // guarded by mu_
  bool broken_ = false;                                 // guarded by mu_
  std::vector<std::pair<std::uint64_t, std::uint64_t>> lost_;  // guarded by mu_: (lo, hi]

  std::mutex maintain_mu_;  // one maintain() at a time
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false;     // guarded by bg_mu_
  bool bg_wanted_ = false;   // guarded by bg_mu_: retention requested by append()
  std::thread bg_;
};

}  // namespace pdl::server
