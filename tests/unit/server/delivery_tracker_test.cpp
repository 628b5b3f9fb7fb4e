#include "server/delivery_tracker.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace pdl::server {
namespace {

std::vector<std::string> agents_of(const std::vector<delivery_tracker::change>& changes,
                                   std::uint64_t seq) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    if (c.seq == seq) out.push_back(c.agent.agent);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(delivery_tracker_changes, nothing_is_recorded_unless_asked) {
  delivery_tracker t(10);
  t.accepted("u1", 1, {"x"}, std::chrono::system_clock::now());
  t.delivered(1, "a");
  EXPECT_TRUE(t.take_changes(100).empty());
}

TEST(delivery_tracker_changes, each_changed_agent_is_taken_once_with_its_current_state) {
  delivery_tracker t(10);
  t.record_changes();
  t.accepted("u1", 1, {"x"}, std::chrono::system_clock::now());
  t.accepted("u2", 2, {"x"}, std::chrono::system_clock::now());
  t.delivered(1, "a");
  t.delivered(1, "b");
  t.delivered(2, "a");
  t.delivered(1, "a");  // again (replay): no new change
  t.acknowledged("u1", 0, "a", false, {"/x: boom"});
  auto c = t.take_changes(100);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(agents_of(c, 1), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(agents_of(c, 2), (std::vector<std::string>{"a"}));
  for (const auto& ch : c) {
    if (ch.seq == 1 && ch.agent.agent == "a") {
      EXPECT_EQ(ch.agent.state, delivery_state::failed);
      EXPECT_EQ(ch.agent.errors, std::vector<std::string>{"/x: boom"});
      EXPECT_GT(ch.agent.at_ms, 0);
    }
  }
  EXPECT_TRUE(t.take_changes(100).empty());
  t.acknowledged("u1", 0, "a", true, {});  // changes again
  c = t.take_changes(100);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].agent.state, delivery_state::applied);
  EXPECT_TRUE(c[0].agent.errors.empty());
}

TEST(delivery_tracker_changes, a_lanes_batch_of_deliveries_is_recorded_like_single_ones) {
  delivery_tracker t(10);
  t.record_changes();
  t.accepted("u1", 1, {"x"}, std::chrono::system_clock::now());
  const std::string a = "a", b = "b";
  t.delivered(1, std::vector<const std::string*>{&a, &b});
  t.delivered(1, std::vector<const std::string*>{&a});  // again: no new change
  t.delivered(9, std::vector<const std::string*>{&a});  // not tracked: ignored
  auto c = t.take_changes(100);
  EXPECT_EQ(agents_of(c, 1), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.size(), 2u);
  auto doc = t.status_json("u1");
  ASSERT_TRUE(doc.has_value());
  EXPECT_NE(doc->find("\"b\""), std::string::npos);
}

TEST(delivery_tracker_changes, taken_in_bounded_batches_and_given_back_after_a_failed_share) {
  delivery_tracker t(10);
  t.record_changes();
  t.accepted("u1", 1, {"x"}, std::chrono::system_clock::now());
  t.accepted("u2", 2, {"x"}, std::chrono::system_clock::now());
  for (int i = 0; i < 5; ++i) t.delivered(1, "a" + std::to_string(i));
  for (int i = 0; i < 3; ++i) t.delivered(2, "b" + std::to_string(i));
  auto first = t.take_changes(4);
  EXPECT_EQ(first.size(), 4u);
  auto second = t.take_changes(100);
  EXPECT_EQ(second.size(), 4u);  // the rest of u1, then u2
  EXPECT_EQ(agents_of(second, 2).size(), 3u);
  t.give_back(second);
  t.acknowledged("u2", 0, "b0", true, {});  // meanwhile: given back with this state
  auto again = t.take_changes(100);
  ASSERT_EQ(again.size(), 4u);
  for (const auto& ch : again) {
    if (ch.agent.agent == "b0") EXPECT_EQ(ch.agent.state, delivery_state::applied);
  }
}

TEST(delivery_tracker_changes, changes_of_an_update_that_left_the_window_are_gone) {
  delivery_tracker t(1);
  t.record_changes();
  t.accepted("u1", 1, {"x"}, std::chrono::system_clock::now());
  t.delivered(1, "a");
  t.accepted("u2", 2, {"x"}, std::chrono::system_clock::now());  // u1 leaves
  t.delivered(2, "b");
  auto c = t.take_changes(100);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].seq, 2u);
  EXPECT_EQ(t.oldest_seq(), 2u);
}

TEST(delivery_tracker_changes, the_pointers_into_the_agent_map_survive_out_of_order_inserts) {
  // accepted() inserts in seq order, shifting the deque's elements (their maps move).
  delivery_tracker t(100);
  t.record_changes();
  t.accepted("u5", 5, {"x"}, std::chrono::system_clock::now());
  t.delivered(5, "agent-with-a-long-name-beyond-small-string-size");
  for (std::uint64_t s = 1; s < 5; ++s) {
    t.accepted("u" + std::to_string(s), s, {"x"}, std::chrono::system_clock::now());
  }
  auto c = t.take_changes(100);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].agent.agent, "agent-with-a-long-name-beyond-small-string-size");
}

TEST(delivery_tracker_changes, snapshot_copies_the_state) {
  delivery_tracker t(10);
  t.accepted("u1", 1, {"x"}, std::chrono::system_clock::now());
  t.delivered(1, "b");
  t.acknowledged("u1", 0, "a", true, {});
  auto s = t.snapshot("u1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->seq, 1u);
  ASSERT_EQ(s->agents.size(), 2u);
  EXPECT_EQ(s->agents[0].agent, "a");
  EXPECT_EQ(s->agents[0].state, delivery_state::applied);
  EXPECT_EQ(s->agents[1].state, delivery_state::pending);
  EXPECT_FALSE(t.snapshot("nope").has_value());
}

}  // namespace
}  // namespace pdl::server
