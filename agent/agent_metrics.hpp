#pragma once
// The agent's Prometheus metrics (GET /metrics on the agent API): counters and histograms that
// the updater and the data_agent bump as things happen, plus gauges the data_agent reads from its
// own state when scraped. Nothing here holds a secret: sources are labelled without their query
// string or userinfo, and no header, token or entry config is ever recorded.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "shared/metrics/metrics.hpp"
#include "shared/model/data_update.hpp"

namespace pdl::agent {

/** Why an entry failed, a small fixed set (the `reason` label). */
enum class failure_reason {
  fetch,            // the source was not reached or the transfer broke (not a timeout)
  source_status,    // the source answered an HTTP error status
  invalid_payload,  // invalid JSON, wrong JSON type, bad dst_path or entry config, size limit
  store,            // the engine was not reached or failed (5xx), after the retries
  store_refused,    // the engine refused the write (4xx)
  timeout,          // the source or the engine did not answer in time
  source_refused,   // the source rules refused the URL, a redirect or the address (permanent)
  secret_missing,   // a ${secret:NAME} in the entry's headers is not in the agent's secrets
  blob_mismatch,    // a blob downloaded from the server had another size or SHA-256
  other,            // anything else (e.g. the agent stopping during a retry wait)
};
/** How many failure_reason values there are. */
inline constexpr std::size_t failure_reason_count = 10;

/** The label value: "fetch", "source_status", ... */
const char* to_string(failure_reason r) noexcept;

/** The `source` label of an entry: "inline" for inline data, "blob" for an entry the server
 *  fetched (downloaded from the server by hash), else the URL as scheme://host[:port]/path (no
 *  query string, fragment or userinfo). */
std::string source_label(const model::data_source_entry& entry);

/** What the data_agent reads from its io_context-thread state at scrape time. */
struct agent_gauges {
  std::size_t queued_bytes = 0;
  bool feed_paused = false;
  std::size_t queue_depth = 0;  // entries waiting or running in the updater
  double oldest_pending_seconds = 0;  // age of the oldest open update, 0 = none
  std::optional<std::size_t> report_queue_depth;  // nullopt: no reporter configured
  bool connected = false;
  bool ready = false;
  bool store_healthy = false;
  std::uint64_t applied_seq = 0;  // 0 = none yet
  std::uint64_t engine_rebuilds = 0;
};

/**
 * Agent-wide counters. Every count_* / observe_* / note_* is a relaxed atomic operation (the
 * per-source ones take a short mutex), callable from any thread (workers included).
 *
 * Metric names (all prefixed pdl_agent_):
 *   updates_received_total, updates_applied_total, updates_failed_total{reason},
 *   apply_seconds (histogram), fetch_seconds (histogram), fetched_bytes_total,
 *   written_bytes_total, queue_depth, oldest_pending_update_seconds, report_queue_depth (with a
 *   reporter), connected,
 *   reconnects_total, applied_seq, server_seq, source_last_success_timestamp_seconds{source},
 *   source_last_error_timestamp_seconds{source}, source_failures_total{source,reason},
 *   store_healthy, ready, engine_rebuilds_total.
 */
class agent_metrics {
 public:
  /** Distinct `source` labels kept; later sources share source="other". */
  static constexpr std::size_t max_sources = 100;

  agent_metrics();

  /** A notify arrived from the server (held, dropped and duplicate ones included). */
  void count_notify() noexcept { received_.fetch_add(1, std::memory_order_relaxed); }
  /** A notify's every entry applied, @p seconds after it arrived. */
  void count_applied(double seconds) noexcept;
  /** A notify finished with a failed entry; @p reason is its first failed entry's. */
  void count_failed(failure_reason reason) noexcept;
  /** One fetch attempt took @p seconds (failed ones too). */
  void observe_fetch(double seconds) noexcept { fetch_seconds_.observe(seconds); }
  void count_fetched_bytes(std::uint64_t n) noexcept {
    fetched_bytes_.fetch_add(n, std::memory_order_relaxed);
  }
  /** Bytes the engine accepted. */
  void count_written_bytes(std::uint64_t n) noexcept {
    written_bytes_.fetch_add(n, std::memory_order_relaxed);
  }
  /** A connection to a server after the first one. */
  void count_reconnect() noexcept { reconnects_.fetch_add(1, std::memory_order_relaxed); }
  /** A seq seen from the server: server_seq keeps the highest. */
  void note_server_seq(std::uint64_t seq) noexcept;
  /** The server's seqs started over (new update log). */
  void reset_server_seq() noexcept { server_seq_.store(0, std::memory_order_relaxed); }
  /** An entry from @p source applied / failed (base loads and refreshes included). */
  void source_success(const std::string& source);
  void source_failure(const std::string& source, failure_reason reason);

  /** Writes every agent metric, @p g for the gauges read at scrape time. */
  void write(metrics::writer& w, const agent_gauges& g) const;

 private:
  struct source_stats {
    double last_success = 0;  // unix seconds, 0 = never
    double last_error = 0;
    std::uint64_t failures[failure_reason_count] = {};  // by failure_reason
  };
  source_stats& source_slot(const std::string& source);  // mu_ held

  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> applied_{0};
  std::atomic<std::uint64_t> failed_[failure_reason_count] = {};
  metrics::histogram apply_seconds_;
  metrics::histogram fetch_seconds_;
  std::atomic<std::uint64_t> fetched_bytes_{0};
  std::atomic<std::uint64_t> written_bytes_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> server_seq_{0};
  mutable std::mutex mu_;
  std::map<std::string, source_stats> sources_;
};

}  // namespace pdl::agent
