#pragma once
// The WebSocket sessions as GET /statistics and /metrics see them: who (agent id, address,
// protocol), since when, how far it got (acknowledged seq, lag) and how much waits in its send
// queue. Sessions register on open and unregister on close; scrapes read from any thread.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pdl::server {

/**
 * One session. The plain fields are set before session_registry::add() and never change; the
 * rest is written on the session's strand and read by scrapes (relaxed atomics: a scrape is a
 * snapshot, not a synchronisation point).
 */
struct session_info {
  std::string session_id;  // also the rpc/channel id
  std::string agent_id;    // X-PDL-Agent-Id, else session_id
  std::string address;     // peer "ip:port"
  std::chrono::system_clock::time_point connected_since;
  bool protocol1 = false;

  /** Frames waiting in the send queue. */
  std::atomic<std::size_t> queued_frames{0};

  /** A pdl_applied for @p seq (applied or failed: either way the agent is past it). */
  void acknowledged(std::uint64_t seq) noexcept;
  /** A successful subscribe: @p after_seq when the agent resumes (it holds everything up to
   *  it), else @p published_now (live delivery starts after it) unless already placed. */
  void subscribed(std::optional<std::uint64_t> after_seq, std::uint64_t published_now) noexcept;

  /** The highest seq acknowledged, nullopt before the first acknowledgement. */
  std::optional<std::uint64_t> applied_seq() const noexcept;
  /**
   * @p published minus the last seq the agent is known to have: the highest acknowledged, or
   * the seq it subscribed after (whichever is higher, a resubscribe with after_seq resets it).
   * nullopt for OPAL clients (protocol 0: they never acknowledge, a lag would only grow) and
   * for sessions that have not subscribed yet. Never negative.
   */
  std::optional<std::uint64_t> lag(std::uint64_t published) const noexcept;

 private:
  static constexpr std::uint64_t none = ~std::uint64_t{0};
  std::atomic<std::uint64_t> acked_{none};
  std::atomic<std::uint64_t> position_{none};
};

/** @par Thread safety  Every member, any thread. */
class session_registry {
 public:
  void add(std::shared_ptr<session_info> s);
  void remove(const std::string& session_id);
  /** The open sessions, by session id. */
  std::vector<std::shared_ptr<const session_info>> list() const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<session_info>> sessions_;  // guarded by mu_
};

}  // namespace pdl::server
