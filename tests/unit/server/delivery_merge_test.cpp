#include "server/delivery_merge.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pdl::server {
namespace {

using nlohmann::json;
using fields_t = std::vector<std::pair<std::string, std::string>>;

agent_delivery applied(std::string agent, std::int64_t at) {
  return {std::move(agent), delivery_state::applied, {}, at};
}
agent_delivery failed(std::string agent, std::int64_t at, std::vector<std::string> errors) {
  return {std::move(agent), delivery_state::failed, std::move(errors), at};
}
agent_delivery pending(std::string agent) {
  return {std::move(agent), delivery_state::pending, {}, 0};
}

std::pair<std::string, std::string> field(const std::string& replica, const agent_delivery& a) {
  return {encode_delivery_field(replica, a.agent), encode_delivery_value(a)};
}

update_delivery local_update(std::vector<agent_delivery> agents) {
  update_delivery u;
  u.id = "u1";
  u.seq = 7;
  u.topics = {"users"};
  u.accepted_at = std::chrono::system_clock::time_point(std::chrono::seconds(1795860000));
  u.agents = std::move(agents);
  return u;
}

const agent_delivery* find(const merged_delivery& m, const std::string& agent) {
  for (const auto& a : m.update.agents) {
    if (a.agent == agent) return &a;
  }
  return nullptr;
}

TEST(delivery_codec, round_trips_every_state) {
  for (const auto& a : {pending("x"), applied("x", 1795860000123),
                        failed("x", 5, {"/users: fetch failed: HTTP 401", "second"}),
                        failed("x", 6, {})}) {
    auto v = decode_delivery_value(encode_delivery_value(a));
    ASSERT_TRUE(v.has_value()) << encode_delivery_value(a);
    EXPECT_EQ(v->state, a.state);
    EXPECT_EQ(v->at_ms, a.at_ms);
    EXPECT_EQ(v->errors, a.errors);
  }
  EXPECT_EQ(encode_delivery_value(applied("x", 42)), "a42");
  auto f = decode_delivery_field(encode_delivery_field("0123abcd", "agent:with:colons"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->first, "0123abcd");
  EXPECT_EQ(f->second, "agent:with:colons");
}

TEST(delivery_codec, refuses_what_breaks_the_encoding_or_its_limits) {
  const std::vector<std::string> bad_values{"",        "x12",          "a",
                                            "a-1",     "a12x",         "a99999999999999999999",
                                            "p1\n[\"e\"]", "f1\n{\"e\":1}", "f1\n[1]",
                                            "f1\n[\"unterminated", "a 12"};
  for (const std::string& bad : bad_values) {
    EXPECT_FALSE(decode_delivery_value(bad).has_value()) << json(bad).dump();
  }
  json many = json::array();
  for (int i = 0; i < 21; ++i) many.push_back("e");
  EXPECT_FALSE(decode_delivery_value("f1\n" + many.dump()).has_value());
  EXPECT_FALSE(decode_delivery_value("f1\n" + json::array({std::string(40000, 'e')}).dump())
                   .has_value());  // over max_value_bytes
  for (const std::string& bad : std::vector<std::string>{
           "", "nocolon", ":agent", "replica:", "UPPER:agent", "sp ace:agent",
           std::string(65, 'a') + ":agent", "r:" + std::string(400, 'a')}) {
    EXPECT_FALSE(decode_delivery_field(bad).has_value()) << bad;
  }
}

TEST(delivery_codec, peer_text_is_cut_and_repaired_on_the_way_in) {
  auto v = decode_delivery_value("f1\n" + json::array({std::string(1500, 'e')}).dump());
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->errors.at(0).size(), 1024u);
  auto f = decode_delivery_field("r1:bad\xff");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->second, "bad\xEF\xBF\xBD");  // U+FFFD
}

TEST(merge_deliveries, agents_of_every_replica_are_listed_and_complete_needs_every_live_replica) {
  auto local = local_update({applied("a1", 10)});
  fields_t fields{field("rb", applied("b1", 11)), field("rb", failed("b2", 12, {"/x: boom"}))};
  auto m = merge_deliveries(local, "ra", fields, {{"rb", 7}});
  ASSERT_EQ(m.update.agents.size(), 3u);
  EXPECT_EQ(find(m, "b1")->state, delivery_state::applied);
  EXPECT_EQ(find(m, "b2")->errors, std::vector<std::string>{"/x: boom"});
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.coverage.reported, 2u);
  EXPECT_TRUE(m.coverage.waiting.empty());

  // A live replica that has not shared its agents through seq 7 yet: not complete, even with
  // nobody pending (it may have agents that are).
  m = merge_deliveries(local, "ra", fields, {{"rb", 7}, {"rc", 6}});
  EXPECT_FALSE(m.complete);
  EXPECT_EQ(m.coverage.waiting, std::vector<std::string>{"rc"});
  EXPECT_EQ(m.coverage.reported, 2u);

  json doc = json::parse(status_document(m.update, m.complete, &m.coverage));
  EXPECT_EQ(doc["agents"]["subscribed"], json::array({"a1", "b1", "b2"}));
  EXPECT_EQ(doc["replicas"]["waiting"], json::array({"rc"}));
  EXPECT_EQ(doc["complete"], false);
}

TEST(merge_deliveries, no_agent_anywhere_is_complete_once_every_replica_reported) {
  auto local = local_update({});
  EXPECT_TRUE(merge_deliveries(local, "ra", {}, {}).complete);
  EXPECT_TRUE(merge_deliveries(local, "ra", {}, {{"rb", 9}}).complete);
  EXPECT_FALSE(merge_deliveries(local, "ra", {}, {{"rb", 3}}).complete);
}

TEST(merge_deliveries, the_latest_outcome_wins_and_an_outcome_beats_pending) {
  // The agent moved from rb to ra: it failed on rb, then applied here.
  auto local = local_update({applied("x", 20), pending("y")});
  fields_t fields{field("rb", failed("x", 10, {"old"})), field("rb", applied("y", 5)),
                  field("rb", failed("z", 30, {"tie"})), field("rc", applied("z", 30))};
  auto m = merge_deliveries(local, "ra", fields, {{"rb", 7}, {"rc", 7}});
  EXPECT_EQ(find(m, "x")->state, delivery_state::applied);
  EXPECT_EQ(find(m, "y")->state, delivery_state::applied);  // pending here, applied on rb
  EXPECT_EQ(find(m, "z")->state, delivery_state::failed);   // a tie never hides a failure
  EXPECT_TRUE(m.complete);
}

TEST(merge_deliveries, pending_agents_of_a_gone_replica_are_dropped_its_outcomes_kept) {
  auto local = local_update({});
  fields_t fields{field("gone", pending("p")), field("gone", applied("a", 3)),
                  field("live", pending("q"))};
  auto m = merge_deliveries(local, "ra", fields, {{"live", 7}});
  EXPECT_EQ(find(m, "p"), nullptr);
  ASSERT_NE(find(m, "a"), nullptr);
  EXPECT_EQ(find(m, "q")->state, delivery_state::pending);
  EXPECT_FALSE(m.complete);
}

TEST(merge_deliveries, own_fields_in_redis_are_older_than_the_live_view_and_skipped) {
  auto local = local_update({applied("x", 20)});
  auto m = merge_deliveries(local, "ra", {field("ra", pending("x")), field("ra", pending("ghost"))},
                            {});
  ASSERT_EQ(m.update.agents.size(), 1u);
  EXPECT_EQ(m.update.agents[0].state, delivery_state::applied);
}

TEST(merge_deliveries, a_corrupt_field_is_ignored_and_counted_never_fatal) {
  auto local = local_update({applied("x", 20)});
  fields_t fields{{"no-colon", "a1"}, {"rb:bad", "zzz"}, {"rb:ok", "a5"},
                  {"rb:huge", "f1\n" + std::string(40000, '[')}};
  auto m = merge_deliveries(local, "ra", fields, {{"rb", 7}});
  EXPECT_EQ(m.ignored_fields, 3u);
  EXPECT_EQ(m.update.agents.size(), 2u);
  EXPECT_TRUE(m.complete);
}

TEST(status_document, without_coverage_is_the_single_server_document) {
  auto local = local_update({applied("a", 1), failed("b", 2, {"e"}), pending("c")});
  json doc = json::parse(status_document(local, none_pending(local)));
  EXPECT_FALSE(doc.contains("replicas"));
  EXPECT_EQ(doc["complete"], false);
  EXPECT_EQ(doc["accepted_at"], "2026-11-28T10:00:00Z");
  EXPECT_EQ(doc["agents"]["pending"], json::array({"c"}));
  EXPECT_EQ(doc["agents"]["failed"], json::parse(R"([{"agent":"b","errors":["e"]}])"));
}

}  // namespace
}  // namespace pdl::server
