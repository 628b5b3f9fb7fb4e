#pragma once
// The orchestrator of data writes: takes updates in arrival order, applies their entries with as
// much concurrency as ordering allows.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "agent/agent_state.hpp"
#include "agent/data_fetcher.hpp"
#include "agent/policy_store.hpp"
#include "shared/model/data_update.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace pdl::agent {

struct updater_options {
  std::vector<std::string> topics{"policy_data"};
  /** Entries in flight at once (fetch + write); also the size of the worker pool. */
  int max_concurrency = 4;
  /** Queued entries beyond which new updates are refused (and counted, health unchanged). */
  std::size_t max_pending_entries = 100000;
  /** How many recent update ids are remembered for duplicate suppression. */
  std::size_t dedupe_window = 4096;
};

/** How one submitted update ended. @c ok: every matching entry applied (vacuously true when none
 *  matched). */
struct update_outcome {
  bool ok = true;
  std::size_t applied = 0;
  std::size_t failed = 0;
  std::vector<std::string> errors;
};

enum class submit_result { queued, duplicate, overflow, stopped };

/**
 * Applies updates to the policy store.
 *
 * - Entries not for the agent's topics are skipped (topic_filter.hpp).
 * - Entries whose normalised dst_paths overlap apply strictly in arrival order; others run
 *   concurrently, at most options.max_concurrency at a time. Fetch and write of one entry happen
 *   together, under that ordering.
 * - Inline data is written as its raw JSON text; otherwise the entry is fetched first.
 * - A PUT of a non-object at the root is refused (OPA would answer 400; it is never wrapped).
 * - One failed entry does not stop the others. Every failure is logged once (agent.updater) and
 *   recorded in agent_state: write failures turn health off, fetch/data failures do not.
 * - An update whose id (and seq) was already seen is applied once.
 *
 * @par Thread safety
 * Everything runs on @p ioc's thread: call submit() and stop() there. Blocking fetcher and store
 * calls run on @p pool. The fetcher, store and state outlive the updater.
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

  std::size_t pending() const noexcept { return pending_.size(); }
  std::size_t running() const noexcept { return running_paths_.size(); }
  bool idle() const noexcept { return pending_.empty() && running_paths_.empty(); }
  /** The highest seq such that it and every earlier-received seq finished processing. */
  std::optional<std::uint64_t> last_applied_seq() const noexcept { return watermark_; }

 private:
  struct update_ctx;
  struct task {
    std::shared_ptr<update_ctx> update;
    model::data_source_entry entry;
    std::string path;  // normalised; "" for the root
  };

  void pump();
  void start(task t);
  void finish(const task& t, const std::string& error, bool write_failure);
  void complete_update(update_ctx& u);
  bool seen_before(const model::data_update& update);

  struct impl;
  std::unique_ptr<impl> impl_;
  agent_state& state_;
  data_fetcher& fetcher_;
  policy_store& store_;
  updater_options options_;
  std::deque<task> pending_;
  std::multiset<std::string> running_paths_;
  bool stopped_ = false;

  std::deque<std::string> recent_ids_;
  std::unordered_set<std::string> recent_set_;

  std::set<std::uint64_t> inflight_seqs_;
  std::set<std::uint64_t> finished_seqs_;
  std::optional<std::uint64_t> watermark_;
};

}  // namespace pdl::agent
