#include "agent/backoff.hpp"

#include <algorithm>

namespace pdl::agent {

backoff::backoff(duration min, duration max, std::uint64_t seed, duration first_spread)
    : min_(std::max(min, duration(0))),
      max_(std::max(max, min_)),
      first_spread_(first_spread),
      rng_(seed != 0 ? seed : std::random_device{}()) {}

backoff::duration backoff::current_cap() const noexcept {
  // Doubling stops once past max, so the shift never overflows.
  std::int64_t cap = std::max<std::int64_t>(min_.count(), 1);
  for (unsigned i = 0; i <= attempt_ && cap < max_.count(); ++i) {
    cap *= 2;
  }
  if (attempt_ == 0) {
    cap = std::max<std::int64_t>(cap, first_spread_.count());
  }
  return duration(std::min<std::int64_t>(cap, max_.count()));
}

backoff::duration backoff::next() {
  const auto cap = current_cap();
  std::uniform_int_distribution<std::int64_t> dist(min_.count(), std::max(cap, min_).count());
  ++attempt_;
  return duration(dist(rng_));
}

}  // namespace pdl::agent
