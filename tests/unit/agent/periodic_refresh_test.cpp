#include "agent/periodic_refresh.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "agent/updater.hpp"
#include "shared/net.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

model::data_source_entry periodic_entry(std::string path, std::optional<double> seconds,
                                        std::vector<std::string> topics = {"policy_data"}) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.url = "http://source.test" + e.dst_path + "?token=never-logged";
  e.topics = std::move(topics);
  e.periodic_update_interval = seconds;
  return e;
}

// Fast schedules for tests: intervals of 10 ms are allowed.
periodic_refresh_options fast_options() {
  periodic_refresh_options o;
  o.min_interval = 1ms;
  o.seed = 42;
  return o;
}

/** Records submissions; completes them later (posted) unless told to hold them. */
struct recording_submitter {
  net::io_context& ioc;
  std::vector<model::data_update> updates;
  std::vector<periodic_refresh::done_fn> held;
  bool hold = false;
  bool accept = true;
  int calls = 0;

  periodic_refresh::submit_fn fn() {
    return [this](model::data_update u, periodic_refresh::done_fn done) {
      ++calls;
      if (!accept) {
        return false;
      }
      updates.push_back(std::move(u));
      if (hold) {
        held.push_back(std::move(done));
      } else {
        net::post(ioc, [done = std::move(done)] { done(true); });
      }
      return true;
    };
  }
  std::size_t count_for(const std::string& path) const {
    return static_cast<std::size_t>(std::count_if(updates.begin(), updates.end(), [&](auto& u) {
      return u.entries.at(0).dst_path == path;
    }));
  }
};

TEST(periodic_refresh_interval, bounds_and_refusals) {
  bool adjusted = true;
  EXPECT_EQ(periodic_refresh::bounded_interval(2.5, 1000ms, 10000ms, &adjusted), 2500ms);
  EXPECT_FALSE(adjusted);
  EXPECT_EQ(periodic_refresh::bounded_interval(0.2, 1000ms, 10000ms, &adjusted), 1000ms);
  EXPECT_TRUE(adjusted);
  EXPECT_EQ(periodic_refresh::bounded_interval(1e300, 1000ms, 10000ms, &adjusted), 10000ms);
  EXPECT_TRUE(adjusted);
  EXPECT_EQ(periodic_refresh::bounded_interval(1.0, 1000ms, 10000ms, &adjusted), 1000ms);
  EXPECT_FALSE(adjusted);
  for (double bad : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(periodic_refresh::bounded_interval(bad, 1000ms, 10000ms), std::nullopt) << bad;
  }
}

TEST(periodic_refresh_interval, jitter_stays_within_ten_percent_and_spreads) {
  std::mt19937_64 rng(7);
  std::chrono::milliseconds min_seen = 100000ms, max_seen = 0ms;
  for (int i = 0; i < 2000; ++i) {
    const auto d = periodic_refresh::jittered(10000ms, rng);
    ASSERT_GE(d, 9000ms);
    ASSERT_LE(d, 11000ms);
    min_seen = std::min(min_seen, d);
    max_seen = std::max(max_seen, d);
  }
  // A fleet spreads out: both ends of the window are used.
  EXPECT_LT(min_seen, 9200ms);
  EXPECT_GT(max_seen, 10800ms);
  EXPECT_GE(periodic_refresh::jittered(1ms, rng), 1ms);
}

TEST(periodic_refresh, schedules_only_periodic_entries_for_our_topics) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  periodic_refresh r(ioc, sub.fn(), fast_options());
  EXPECT_FALSE(r.configured());
  r.reset({periodic_entry("/once", std::nullopt), periodic_entry("/other", 0.01, {"billing"}),
           periodic_entry("/mine", 0.01, {"policy_data/users"}),
           periodic_entry("/bad", -1.0)});
  EXPECT_TRUE(r.configured());
  EXPECT_EQ(r.scheduled(), 1u);
  r.reset({});
  EXPECT_TRUE(r.configured());
  EXPECT_EQ(r.scheduled(), 0u);
}

TEST(periodic_refresh, submits_one_entry_updates_repeatedly) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  periodic_refresh r(ioc, sub.fn(), fast_options());
  const auto entry = periodic_entry("/users", 0.01);
  r.reset({entry, periodic_entry("/static", std::nullopt)});
  ASSERT_TRUE(run_until(ioc, [&] { return sub.updates.size() >= 3; }));
  for (const auto& u : sub.updates) {
    ASSERT_EQ(u.entries.size(), 1u);
    EXPECT_EQ(u.entries[0], entry);
    EXPECT_EQ(u.reason, "Periodic refresh");
    EXPECT_FALSE(u.seq.has_value());
  }
  EXPECT_EQ(r.submitted(), sub.updates.size());
  r.stop();
}

TEST(periodic_refresh, a_refresh_in_flight_makes_ticks_no_ops) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  sub.hold = true;
  periodic_refresh r(ioc, sub.fn(), fast_options());
  r.reset({periodic_entry("/users", 0.005)});
  ASSERT_TRUE(run_until(ioc, [&] { return r.skipped() >= 3; }));
  EXPECT_EQ(sub.updates.size(), 1u);
  // Once it finishes, the next tick refreshes again.
  sub.hold = false;
  sub.held.at(0)(true);
  ASSERT_TRUE(run_until(ioc, [&] { return sub.updates.size() >= 2; }));
  r.stop();
}

TEST(periodic_refresh, a_failed_refresh_is_tried_again_on_the_next_tick) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  sub.hold = true;
  periodic_refresh r(ioc, sub.fn(), fast_options());
  r.reset({periodic_entry("/users", 0.005)});
  ASSERT_TRUE(run_until(ioc, [&] { return sub.held.size() == 1; }));
  sub.held.at(0)(false);
  ASSERT_TRUE(run_until(ioc, [&] { return sub.held.size() == 2; }));
  r.stop();
}

TEST(periodic_refresh, a_refused_submission_does_not_block_later_ticks) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  sub.accept = false;
  periodic_refresh r(ioc, sub.fn(), fast_options());
  r.reset({periodic_entry("/users", 0.005)});
  ASSERT_TRUE(run_until(ioc, [&] { return sub.calls >= 3; }));
  EXPECT_EQ(r.submitted(), 0u);
  EXPECT_EQ(r.skipped(), 0u);
  r.stop();
}

TEST(periodic_refresh, reset_replaces_the_schedule_and_old_completions_do_not_leak_in) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  sub.hold = true;
  periodic_refresh r(ioc, sub.fn(), fast_options());
  r.reset({periodic_entry("/old", 0.005), periodic_entry("/kept", 0.005)});
  ASSERT_TRUE(run_until(
      ioc, [&] { return sub.count_for("/old") == 1 && sub.count_for("/kept") == 1; }));
  // A reload: /old disappears, /kept is rescheduled while its previous refresh is still running.
  r.reset({periodic_entry("/kept", 0.005)});
  EXPECT_EQ(r.scheduled(), 1u);
  // The new /kept slot is not blocked by the old slot's refresh in flight.
  ASSERT_TRUE(run_until(ioc, [&] { return sub.count_for("/kept") == 2; }));
  for (auto& done : sub.held) {
    done(true);  // late completions of the old schedule: harmless
  }
  sub.held.clear();
  sub.hold = false;
  ASSERT_TRUE(run_until(ioc, [&] { return sub.count_for("/kept") >= 4; }));
  EXPECT_EQ(sub.count_for("/old"), 1u);
  r.stop();
}

TEST(periodic_refresh, stop_cancels_everything_and_ignores_later_resets) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  periodic_refresh r(ioc, sub.fn(), fast_options());
  r.reset({periodic_entry("/users", 0.005)});
  ASSERT_TRUE(run_until(ioc, [&] { return !sub.updates.empty(); }));
  r.stop();
  r.reset({periodic_entry("/users", 0.005)});
  EXPECT_EQ(r.scheduled(), 0u);
  const auto before = sub.updates.size();
  // With every timer cancelled the loop runs out of work: run() returns on its own.
  ioc.restart();
  ioc.run();
  EXPECT_EQ(sub.updates.size(), before);
}

TEST(periodic_refresh, cancel_then_reset_rebuilds) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  periodic_refresh r(ioc, sub.fn(), fast_options());
  r.reset({periodic_entry("/users", 0.005)});
  r.cancel();
  EXPECT_EQ(r.scheduled(), 0u);
  ioc.run();  // only the cancelled waits: returns
  EXPECT_TRUE(sub.updates.empty());
  r.reset({periodic_entry("/users", 0.005)});
  ASSERT_TRUE(run_until(ioc, [&] { return !sub.updates.empty(); }));
  r.stop();
}

TEST(periodic_refresh, destroyed_while_waiting_is_safe) {
  net::io_context ioc;
  recording_submitter sub{ioc};
  {
    periodic_refresh r(ioc, sub.fn(), fast_options());
    r.reset({periodic_entry("/users", 0.005)});
  }
  ioc.run();  // the cancelled coroutines finish without touching the destroyed object
  EXPECT_TRUE(sub.updates.empty());
}

TEST(periodic_refresh, through_the_updater_the_source_s_new_answer_lands) {
  net::io_context ioc;
  net::thread_pool pool(2);
  test::fake_fetcher fetcher;
  test::fake_store store;
  agent_state state;
  updater u(ioc, pool, fetcher, store, state, updater_options{});
  const auto entry = periodic_entry("/users", 0.01);
  fetcher.set(entry.url, R"({"v":1})");
  periodic_refresh r(
      ioc,
      [&u](model::data_update up, periodic_refresh::done_fn done) {
        return u.submit(std::move(up), [done = std::move(done)](const update_outcome& out) {
                 done(out.ok);
               }) == submit_result::queued;
      },
      fast_options());
  r.reset({entry});
  ASSERT_TRUE(run_until(ioc, [&] { return !store.writes_to("/users").empty(); }));
  fetcher.set(entry.url, R"({"v":2})");
  ASSERT_TRUE(run_until(ioc, [&] {
    const auto w = store.writes_to("/users");
    return !w.empty() && w.back().body == R"({"v":2})";
  }));
  r.stop();
  u.stop();
  ASSERT_TRUE(run_until(ioc, [&] { return u.idle(); }));
  pool.join();
}

}  // namespace
}  // namespace pdl::agent
