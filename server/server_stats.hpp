#pragma once
// Counters the server exposes to tests and logs (degraded modes are counted, STYLE H12).
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/topic_counts.hpp"
#include "shared/metrics/metrics.hpp"

namespace pdl::server {

/** Why an update was refused (label `reason` of pdl_server_updates_refused_total). */
/** `overloaded`: more than limits.max_pending_publishes publishes were waiting (503 with
 *  Retry-After, or `false` over the WebSocket). `source_refused`: an entry's url is refused by
 *  the source rules (422 naming the rule; docs/source-rules.md). `source_failed`: the server
 *  fetches an entry itself and its source failed (422, 502, 504; docs/fetch-once.md) or the
 *  blob store could not keep it (507). */
enum class refusal : std::size_t {
  unauthorized,
  forbidden,
  malformed,
  invalid,
  unavailable,
  overloaded,
  source_refused,
  source_failed
};
inline constexpr std::size_t refusal_kinds = 8;
inline constexpr std::array<std::string_view, refusal_kinds> refusal_names{
    "unauthorized", "forbidden", "malformed", "invalid", "unavailable", "overloaded",
    "source_refused", "source_failed"};

struct server_stats {
  std::atomic<std::uint64_t> updates_accepted{0};
  std::atomic<std::uint64_t> updates_refused{0};
  std::atomic<std::uint64_t> notifies_queued{0};
  /** Notifies queued by replay (subscribe with after_seq). */
  std::atomic<std::uint64_t> notifies_replayed{0};
  /** Sessions closed with 1013 because their send queue overflowed. */
  std::atomic<std::uint64_t> slow_sessions_closed{0};
  std::atomic<std::uint64_t> connections_refused{0};  // over limits.max_connections
  std::atomic<std::int64_t> open_connections{0};      // HTTP and WebSocket
  std::atomic<std::int64_t> open_sessions{0};         // WebSocket sessions
  /** Publishes admitted and not answered yet (bounded by limits.max_pending_publishes). */
  std::atomic<std::int64_t> pending_publishes{0};

  // ---- /metrics and /statistics (server_metrics.hpp lists the metric names) ----
  /** Refused updates by reason: unlike updates_refused (intake only) this also counts 401s
   *  before the intake and WebSocket publishes refused by ws_rpc. */
  std::array<std::atomic<std::uint64_t>, refusal_kinds> refused_by{};
  void refused(refusal r) noexcept { ++refused_by[static_cast<std::size_t>(r)]; }
  std::uint64_t refused_total() const noexcept {
    std::uint64_t n = 0;
    for (const auto& c : refused_by) n += c.load(std::memory_order_relaxed);
    return n;
  }
  /** Live notifies queued for a session (replayed ones are notifies_replayed). */
  std::atomic<std::uint64_t> notifies_live{0};
  /** Agents' outcome reports: pdl_applied and POST /data/callback_report. */
  std::atomic<std::uint64_t> reports_applied{0};
  std::atomic<std::uint64_t> reports_failed{0};
  /** Accept -> stored and fanned out, per accepted update (POST or WebSocket publish). */
  metrics::histogram publish_seconds{metrics::histogram::latency_bounds()};
  /** Accepted updates per topic as sent (bounded). */
  topic_counts publishes_by_topic;
};

}  // namespace pdl::server
