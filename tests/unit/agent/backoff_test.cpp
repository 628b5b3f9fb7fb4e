#include "agent/backoff.hpp"

#include <gtest/gtest.h>

#include <set>

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;

TEST(backoff, delays_stay_within_min_and_max) {
  backoff b(200ms, 5000ms, 42);
  for (int i = 0; i < 200; ++i) {
    const auto d = b.next();
    EXPECT_GE(d, 200ms);
    EXPECT_LE(d, 5000ms);
  }
  EXPECT_EQ(b.current_cap(), 5000ms);
}

TEST(backoff, window_grows_then_resets) {
  backoff b(100ms, 60000ms, 7, 100ms);
  const auto first = b.current_cap();
  b.next();
  b.next();
  b.next();
  EXPECT_GT(b.current_cap(), first);
  b.reset();
  EXPECT_EQ(b.current_cap(), first);
  EXPECT_EQ(b.attempts(), 0u);
}

TEST(backoff, first_delay_after_reset_is_spread) {
  // A fleet that lost the server together must not come back in the same instant: the very
  // first delay is drawn from a window of at least first_spread.
  std::set<long long> firsts;
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    backoff b(200ms, 30000ms, seed, 2000ms);
    const auto d = b.next();
    EXPECT_GE(d, 200ms);
    EXPECT_LE(d, 2000ms);
    firsts.insert(d.count() / 100);  // 100 ms buckets
  }
  EXPECT_GT(firsts.size(), 5u);
}

TEST(backoff, jitter_varies_between_calls) {
  backoff b(10ms, 100000ms, 3);
  for (int i = 0; i < 10; ++i) {
    b.next();
  }
  std::set<long long> values;
  for (int i = 0; i < 20; ++i) {
    values.insert(b.next().count());
  }
  EXPECT_GT(values.size(), 10u);
}

TEST(backoff, max_below_min_is_raised_to_min) {
  backoff b(500ms, 100ms, 1);
  EXPECT_EQ(b.next(), 500ms);
}

}  // namespace
}  // namespace pdl::agent
