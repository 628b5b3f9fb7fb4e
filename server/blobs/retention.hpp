#pragma once
// Blob retention (docs/fetch-once.md): a blob lives while a record of the update log refers to
// it. A pass reads the whole log (what compaction and trimming left), collects the hashes its
// entries name, and removes every other blob older than a grace period (a blob written by a
// publish whose update is not appended yet is younger), here and, with replicas, in Redis.
// Blocking (log reads, file removals, Redis): run it on a pool.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <string>
#include <string_view>

#include "server/blobs/blob_store.hpp"
#include "server/blobs/redis_blobs.hpp"
#include "server/update_log.hpp"

namespace pdl::server::blobs {

/** Adds to @p out the hashes of `"blob":{"sha256":"<64 hex>"` in one stored update's JSON
 *  (inline data that happens to hold the same text only keeps a blob longer). */
void collect_blob_refs(std::string_view update_json, std::set<std::string>& out);

/** The hashes every record of @p log refers to. @throws update_log_error. */
std::set<std::string> referenced_blobs(const update_log& log);

struct retention_result {
  std::size_t referenced = 0;
  std::uint64_t freed_bytes = 0;   // here
  std::size_t removed_shared = 0;  // in Redis
};

/** One pass over @p log, @p store and (when not null) @p shared; @p also_keep: hashes kept
 *  though no record names them (the base entries' current blobs). */
retention_result run_retention(const update_log& log, blob_store& store, redis_blobs* shared,
                               std::chrono::seconds grace,
                               const std::set<std::string>& also_keep = {});

/** run_retention every @p interval on a thread of its own (a pass may read a large log), from
 *  one interval after the start; stops (and joins) on destruction. */
class periodic_retention {
 public:
  periodic_retention(const update_log& log, blob_store& store, redis_blobs* shared,
                     std::chrono::seconds interval, std::chrono::seconds grace,
                     std::function<std::set<std::string>()> also_keep = {});
  ~periodic_retention();
  periodic_retention(const periodic_retention&) = delete;
  periodic_retention& operator=(const periodic_retention&) = delete;

  /** Bytes freed here since the start (for /metrics). */
  std::uint64_t freed_bytes() const noexcept { return freed_.load(); }
  std::uint64_t passes() const noexcept { return passes_.load(); }

 private:
  void loop();
  const update_log& log_;
  blob_store& store_;
  redis_blobs* shared_;
  const std::chrono::seconds interval_;
  const std::chrono::seconds grace_;
  std::function<std::set<std::string>()> also_keep_;
  std::atomic<std::uint64_t> freed_{0};
  std::atomic<std::uint64_t> passes_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace pdl::server::blobs
