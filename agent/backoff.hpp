#pragma once
// Reconnect and retry delays: exponential growth with full jitter, so that many agents that lost
// the same server at the same moment do not all come back in the same second.
#include <chrono>
#include <cstdint>
#include <random>

namespace pdl::agent {

/**
 * Delay n (0-based, since the last reset()) is drawn uniformly from
 * [min, min(max, min * 2^(n+1))]. After reset() the first delay is spread over at least
 * [min, min(max, first_spread)] so that a fleet disconnected together does not reconnect together
 * even when the server comes back at once.
 *
 * @par Thread safety
 * Not thread-safe; owned by one task.
 */
class backoff {
 public:
  using duration = std::chrono::milliseconds;

  /** @param min, max delay bounds (max is raised to min when smaller).
   *  @param seed random seed; 0 = from std::random_device (tests pass a fixed one). */
  backoff(duration min, duration max, std::uint64_t seed = 0,
          duration first_spread = std::chrono::milliseconds(2000));

  /** The next delay; grows the window for the one after. */
  duration next();
  /** Back to the first window (after a success). */
  void reset() noexcept { attempt_ = 0; }
  /** Number of next() calls since the last reset(). */
  unsigned attempts() const noexcept { return attempt_; }
  /** The upper bound next() may return now (for tests and logs). */
  duration current_cap() const noexcept;

 private:
  duration min_;
  duration max_;
  duration first_spread_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace pdl::agent
