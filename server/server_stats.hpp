#pragma once
// Counters the server exposes to tests and logs (degraded modes are counted, STYLE H12).
#include <atomic>
#include <cstdint>

namespace pdl::server {

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
};

}  // namespace pdl::server
