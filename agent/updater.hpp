#pragma once
// The orchestrator of data writes: takes updates in arrival order, applies their entries with as
// much concurrency as ordering allows, retrying transient failures a bounded number of times.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "agent/agent_metrics.hpp"
#include "agent/agent_state.hpp"
#include "agent/data_fetcher.hpp"
#include "agent/policy_store.hpp"
#include "shared/model/data_update.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace pdl::agent {

/**
 * Sees every write the updater makes, on the worker thread that made it, before the entry
 * counts as finished (so before the update's seq can become the applied watermark).
 * Implementations are thread-safe and must not throw (they log their own failures).
 */
class write_observer {
 public:
  virtual ~write_observer() = default;
  /** Right before each write attempt, on the same worker thread. May throw store_error: the
   *  attempt then fails as if the engine had answered so (retried when transient), and nothing
   *  was written. The agent writes its marker document here, before its first data write, so a
   *  marker failure can never make a written PATCH be retried. Default: nothing. */
  virtual void before_write(const std::string& path, bool put) {
    (void)path;
    (void)put;
  }
  /** @p applied: the engine accepted the write. !@p applied: the write could not reach the
   *  engine (transport error or 5xx) and retries ran out; the observer may keep it as intended
   *  state to rewrite later. Permanently refused writes (4xx) are not reported here (a refused
   *  PATCH goes to patch_refused()). @p path is the normalised dst_path ("" = root). */
  virtual void written(const std::string& path, bool put, const store_body& body,
                       bool applied) = 0;
  /** The engine refused a PATCH for good (4xx, e.g. 404: a path it names does not exist). Its
   *  verdict depends on the engine's state, which may not be the state the agent built: an
   *  engine restarted empty refuses every PATCH until the agent notices and rewrites it, and a
   *  retried PATCH whose first try applied but lost its answer is refused as a repeat. The
   *  observer may journal it so a rewrite replays it on the intended state (where it applies,
   *  or is refused again). Same thread and timing as written(). Default: ignored. */
  virtual void patch_refused(const std::string& path, const store_body& body) {
    (void)path;
    (void)body;
  }
};

struct updater_options {
  std::vector<std::string> topics{"policy_data"};
  /** Entries in flight at once (fetch + write). A fetch holds no thread (the fetcher is
   *  asynchronous); writes queue for the pool's threads. */
  int max_concurrency = 4;
  /** Queued entries beyond which new updates are refused (counted, health unchanged). A refused
   *  update with a seq holds the watermark below it, so the caller's reconnect replays it. The
   *  caller keeps well under this with back-pressure (data_agent pauses the feed). */
  std::size_t max_pending_entries = 100000;
  /** How many recent update ids are remembered for duplicate suppression. */
  std::size_t dedupe_window = 4096;
  /** Tries per fetch and per engine write (1 = no retry). Transient failures only: a source's
   *  4xx (except 408/429), invalid JSON, and the engine's 4xx are reported at once. */
  int retry_attempts = 1;
  /** Delay before retry n: uniform in [retry_min, min(retry_max, retry_min * 2^n)]. */
  std::chrono::milliseconds retry_min{200};
  std::chrono::milliseconds retry_max{10000};
  std::uint64_t seed = 0;  // retry jitter seed, 0 = random
  /** Fill update_outcome::reports (entries, fetched/saved, sha256 of the bytes written). */
  bool collect_reports = false;
  /** Not owned; may be null. */
  write_observer* observer = nullptr;
  /** Called on the io_context after every update completed (queued_bytes() went down). */
  std::function<void()> on_update_done;
  /** Not owned; may be null. Gets fetch durations and bytes, written bytes and per-source
   *  outcomes (updates_* are counted by the caller from update_outcome). */
  agent_metrics* metrics = nullptr;
};

/** One entry's result, for OPAL's DataUpdateReport. */
struct entry_report {
  model::data_source_entry entry;
  bool fetched = false;  // data obtained (inline data counts as fetched)
  bool saved = false;    // written to the engine (or superseded by a later PUT)
  std::string hash;      // hex sha256 of the bytes written; "" when nothing was obtained
  std::string error;
};

/** How one submitted update ended. @c ok: every matching entry applied (vacuously true when none
 *  matched). A superseded entry counts as applied: the newer PUT gives the same final state. */
struct update_outcome {
  bool ok = true;
  std::size_t applied = 0;
  std::size_t failed = 0;
  std::size_t superseded = 0;
  std::vector<std::string> errors;
  std::vector<failure_reason> failure_reasons;  // one per errors[i], same order
  std::vector<entry_report> reports;  // only with updater_options::collect_reports
};

enum class submit_result { queued, duplicate, already_applied, overflow, stopped };

/**
 * Applies updates to the policy store.
 *
 * - Entries not for the agent's topics are skipped (topic_filter.hpp).
 * - Entries whose normalised dst_paths overlap apply strictly in arrival order; others run
 *   concurrently, at most options.max_concurrency at a time. Fetch and write of one entry happen
 *   together, under that ordering.
 * - Inline data is written as its raw JSON text; otherwise the entry is fetched first.
 * - A PUT of a non-object at the root is refused (OPA would answer 400; it is never wrapped).
 * - Fetches and writes are retried (options.retry_*) with jittered exponential backoff; the
 *   entry keeps its place (and blocks overlapping ones) while it waits.
 * - A PUT supersedes the queued entries at its path or below (and a running one waiting to
 *   retry) when nothing overlapping sits between them: they are set aside, not written, until
 *   the PUT's own write ends. If it succeeded, they count as applied (the PUT overwrote them);
 *   if it failed before reaching the engine (a source error, a refusal), they are put back in
 *   their place and applied as if it had never come, so a later failure never erases an earlier
 *   success. If its write gave up with the engine unreachable (kept by the observer as intended
 *   state, rewritten later) or timed out (it may have applied), they fail with it.
 * - One failed entry does not stop the others. Every failure is logged once (agent.updater) and
 *   recorded in agent_state: write failures turn health off, fetch/data failures do not.
 * - An update whose id (and seq) was already seen is applied once; one whose seq is at or
 *   below the applied watermark is skipped (already_applied).
 *
 * @par Thread safety
 * Everything runs on @p ioc's thread: call submit() and stop() there. Fetches complete through
 * the fetcher's own callbacks (resumed on @p ioc); blocking store calls run on @p pool. The fetcher, store, state and observer outlive the updater.
 */
class updater {
 public:
  using done_fn = std::function<void(const update_outcome&)>;

  updater(boost::asio::io_context& ioc, boost::asio::thread_pool& pool, data_fetcher& fetcher,
          policy_store& store, agent_state& state, updater_options options);
  ~updater();
  updater(const updater&) = delete;
  updater& operator=(const updater&) = delete;

  /** Queues @p update. @p on_done runs on the io_context once all its matching entries finished
   *  (not at all when the result is not queued). Never runs entries inline. */
  submit_result submit(model::data_update update, done_fn on_done = {});

  /** Starts nothing new; queued entries are dropped, running ones finish. */
  void stop();

  /** While held, queued entries wait (running ones finish): the engine is being rewritten. */
  void hold(bool on);
  /** The applied watermark restored from disk (seqs at or below it are skipped). */
  void set_applied_seq(std::optional<std::uint64_t> seq);
  /** The server's seqs start over (a new update log): forgets the watermark; updates already
   *  submitted still run, but their seqs no longer count towards it. */
  void restart_sequence();

  std::size_t pending() const noexcept { return pending_.size(); }
  std::size_t running() const noexcept { return running_paths_.size(); }
  /** Memory held by updates not yet completed (inline data, URLs, configs, per-entry overhead;
   *  fetched payloads live in temp files and are not counted). */
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  /** What one queued entry counts in queued_bytes(): its strings plus a fixed overhead. */
  static std::size_t entry_bytes(const model::data_source_entry& e) noexcept;
  bool idle() const noexcept { return pending_.empty() && running_paths_.empty(); }
  /** When the oldest update not yet completed was submitted (queued, fetching or writing);
   *  nullopt when none is open. */
  std::optional<std::chrono::steady_clock::time_point> oldest_open_since() const;
  /** The highest seq such that it and every earlier-received seq finished processing. */
  std::optional<std::uint64_t> last_applied_seq() const noexcept { return watermark_; }
  /** For a seq above the watermark that already finished: whether it applied (a replayed copy
   *  is a duplicate, and its acknowledgement may have been lost). nullopt otherwise. */
  std::optional<bool> finished_ok(std::uint64_t seq) const;

 private:
  struct update_ctx;
  struct run_ctl;
  struct task;
  /** Entries a newer PUT set aside (superseded), in arrival order; settled when its write ends. */
  using shadow_list = std::vector<task>;
  struct task {
    std::shared_ptr<update_ctx> update;
    model::data_source_entry entry;
    std::string path;  // normalised; "" for the root
    std::uint64_t order = 0;  // arrival order, to put set-aside entries back in place
    std::shared_ptr<run_ctl> ctl;  // set once running
    std::shared_ptr<shadow_list> shadow;  // entries this PUT supersedes; null when none
  };
  /** How an entry's run ended (finish()). */
  enum class ending {
    applied,   // written
    failed,    // not written; nothing kept
    intended,  // not confirmed: kept by the observer as intended state, or timed out
    deferred,  // a newer PUT superseded it while it waited to retry: set aside in its shadow
  };

  void pump();
  void start(task t);
  void finish(task t, const std::string& error, bool write_failure, ending how,
              entry_report report, failure_reason reason);
  /** Settles the entries @p owner set aside once its write ended: counted as applied (it
   *  overwrote them), failed with it (@p error: it was kept as intended state instead), or,
   *  when @p error is empty and !@p applied, put back in the queue in arrival order. */
  void settle_shadow(task& owner, bool applied, const std::string& error);
  void record_failure(update_ctx& u, const task& t, const std::string& dst,
                      const std::string& error, failure_reason reason, bool write_failure,
                      entry_report report);
  /** @p ancestor is @p path or one of its ancestors (normalised paths, "" = root). */
  static bool covers(const std::string& ancestor, const std::string& path);
  void supersede_before(task& newer);
  void count_superseded(task& t);
  void complete_update(update_ctx& u);
  bool is_duplicate(const model::data_update& update) const;
  void remember(const model::data_update& update);

  struct impl;
  std::unique_ptr<impl> impl_;
  agent_state& state_;
  data_fetcher& fetcher_;
  policy_store& store_;
  updater_options options_;
  std::deque<task> pending_;
  std::multiset<std::string> running_paths_;
  std::list<std::shared_ptr<run_ctl>> running_ctls_;
  bool stopped_ = false;
  bool held_ = false;
  std::uint64_t next_seed_ = 1;
  std::uint64_t next_order_ = 1;
  std::size_t queued_bytes_ = 0;
  /** Updates submitted and not completed: arrival serial -> when submitted. */
  std::map<std::uint64_t, std::chrono::steady_clock::time_point> open_updates_;
  std::uint64_t next_update_serial_ = 1;

  std::deque<std::string> recent_ids_;
  std::unordered_set<std::string> recent_set_;

  std::set<std::uint64_t> inflight_seqs_;
  std::map<std::uint64_t, bool> finished_seqs_;  // above the watermark: seq -> outcome ok
  std::set<std::uint64_t> overflowed_seqs_;  // refused by the entry limit: hold the watermark
  std::uint64_t seq_space_ = 0;  // bumped by restart_sequence()
  std::optional<std::uint64_t> watermark_;
};

}  // namespace pdl::agent
