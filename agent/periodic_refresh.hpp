#pragma once
// Periodic refresh of base-config entries that carry periodic_update_interval (OPAL's pollers):
// each such entry is refetched every interval, with jitter, as a one-entry data_update that goes
// through the updater like any other write (so ordering on overlapping paths and the updater's
// retries apply).
//
// Interval bounds: values below min_interval (default 1 s) are raised to it, values above
// max_interval (default 30 days, which also keeps the timer arithmetic far from overflow) are
// lowered to it; either way one WARN per entry and schedule. The parser already refuses
// non-finite and non-positive intervals; they are refused here again (entry skipped, WARN).
//
// Differences from OPAL, on purpose: the first refresh comes one (jittered) interval after the
// schedule is set, since the base load that sets it has just written the entry; the delay is
// jittered so a fleet started together does not hit a source at once; a refresh still in flight
// when the next tick comes makes that tick a no-op instead of stacking another fetch.
// Like OPAL, a refresh PUTs the source's whole answer: it overwrites what incremental updates
// changed below the entry's dst_path in the meantime (the source is the truth for that path).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "shared/model/data_update.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace pdl::agent {

struct periodic_refresh_options {
  /** Entries for none of these topics are not scheduled (the updater would skip them anyway). */
  std::vector<std::string> topics{"policy_data"};
  std::chrono::milliseconds min_interval{1000};
  std::chrono::milliseconds max_interval{std::chrono::hours(24 * 30)};
  std::uint64_t seed = 0;  // jitter seed, 0 = random
};

/**
 * Owns one steady_timer per scheduled entry on the agent's io_context.
 *
 * @par Thread safety
 * Construct, call and destroy on the io_context's thread. Destroy only after the io_context
 * stopped running, or after stop() and letting it run (suspended tick coroutines hold their own
 * state, never this object, once cancelled).
 */
class periodic_refresh {
 public:
  /** Called with the result of one refresh, on the io_context. */
  using done_fn = std::function<void(bool ok)>;
  /** Submits one refresh update. Returns true when it was queued: @p done then runs exactly
   *  once, later (never inline). Returns false when refused (stopping, queue full): @p done is
   *  dropped uncalled. */
  using submit_fn = std::function<bool(model::data_update update, done_fn done)>;

  periodic_refresh(boost::asio::io_context& ioc, submit_fn submit,
                   periodic_refresh_options options = {});
  ~periodic_refresh();
  periodic_refresh(const periodic_refresh&) = delete;
  periodic_refresh& operator=(const periodic_refresh&) = delete;

  /** Cancels every current timer, then schedules each entry of @p entries that has a
   *  periodic_update_interval and matches the topics. A refresh already submitted finishes in
   *  the updater, but its completion no longer affects the new schedule. No-op after stop(). */
  void reset(const std::vector<model::data_source_entry>& entries);
  /** Cancels every timer (a base reload is starting; reset() rebuilds them). */
  void cancel();
  /** cancel(), and every later reset() is ignored. Idempotent. */
  void stop();

  /** Entries scheduled now. */
  std::size_t scheduled() const noexcept { return slots_.size(); }
  /** reset() was called at least once (the schedule is known, possibly empty). */
  bool configured() const noexcept { return configured_; }
  /** Refreshes submitted, and ticks skipped because the previous refresh was still running. */
  std::uint64_t submitted() const noexcept { return submitted_; }
  std::uint64_t skipped() const noexcept { return skipped_; }

  /** @p seconds bounded to [min, max]; nullopt when not finite or not > 0. @p adjusted (may be
   *  null) is set when the value had to be raised or lowered. */
  static std::optional<std::chrono::milliseconds> bounded_interval(
      double seconds, std::chrono::milliseconds min, std::chrono::milliseconds max,
      bool* adjusted = nullptr);
  /** Uniform in [0.9, 1.1] x @p interval (at least 1 ms). */
  static std::chrono::milliseconds jittered(std::chrono::milliseconds interval,
                                            std::mt19937_64& rng);

 private:
  struct slot;
  struct runner;  // the per-slot coroutine (Asio stays out of this header)
  friend struct runner;
  void fire(const std::shared_ptr<slot>& s);

  boost::asio::io_context& ioc_;
  submit_fn submit_;
  periodic_refresh_options options_;
  std::mt19937_64 rng_;
  std::vector<std::shared_ptr<slot>> slots_;
  bool configured_ = false;
  bool stopped_ = false;
  std::uint64_t submitted_ = 0;
  std::uint64_t skipped_ = 0;
};

}  // namespace pdl::agent
