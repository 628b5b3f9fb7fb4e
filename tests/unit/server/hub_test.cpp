#include "server/hub.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/model/topics.hpp"
#include "shared/rpc/rpc.hpp"

namespace pdl::server {
namespace {

struct fake_session : subscriber {
  explicit fake_session(std::string i) : sid(std::move(i)) {}
  const std::string& id() const override { return sid; }
  void deliver(outgoing_frame f) override { frames.push_back(std::move(f)); }
  void shut_down() override { ++shutdowns; }
  std::string sid;
  std::vector<outgoing_frame> frames;
  int shutdowns = 0;
};

model::data_update update_on(std::vector<std::string> topics) {
  model::data_update u;
  model::data_source_entry e;
  e.url = "https://example.com/data";
  e.topics = std::move(topics);
  u.entries.push_back(e);
  u.id = "u1";
  u.seq = 7;
  return u;
}

TEST(notify_frame, head_plus_tail_is_the_codec_encoding) {
  std::string data = R"({"id": "u1", "entries": []})";
  auto tail = notify_tail(data, "c0ffee");
  std::string head = notify_head("s1", "s2", "billing");
  EXPECT_EQ(head + *tail,
            rpc::encode_request("notify", rpc::encode_notify_arguments("s1", "s2", "billing", data),
                                "c0ffee"));
}

TEST(hub, delivers_once_per_session_with_the_first_matching_topic_and_shares_the_tail) {
  hub h;
  auto a = std::make_shared<fake_session>("a");
  auto b = std::make_shared<fake_session>("b");
  auto c = std::make_shared<fake_session>("c");
  h.attach(a);
  h.attach(b);
  h.attach(c);
  h.subscribe("a", {"users", "billing"});
  h.subscribe("b", {"billing"});
  h.subscribe("c", {"other"});
  auto u = update_on({"users", "billing"});
  auto topics = model::expand_topics(u);
  EXPECT_EQ(h.publish(u, topics), 2u);
  ASSERT_EQ(a->frames.size(), 1u);
  ASSERT_EQ(b->frames.size(), 1u);
  EXPECT_TRUE(c->frames.empty());
  EXPECT_EQ(a->frames[0].tail.get(), b->frames[0].tail.get());  // one shared payload

  auto fa = rpc::decode(*a->frames[0].head + *a->frames[0].tail);
  auto args = nlohmann::json::parse(fa.req->arguments_json);
  EXPECT_EQ(args["subscription"]["topic"], "users");
  EXPECT_EQ(args["subscription"]["id"], "a");
  EXPECT_EQ(args["data"]["seq"], 7);
  auto fb = rpc::decode(*b->frames[0].head + *b->frames[0].tail);
  EXPECT_EQ(nlohmann::json::parse(fb.req->arguments_json)["subscription"]["topic"], "billing");
}

TEST(hub, unsubscribe_detach_and_dead_sessions) {
  hub h;
  auto a = std::make_shared<fake_session>("a");
  h.attach(a);
  h.subscribe("a", {"t1", "t2"});
  h.unsubscribe("a", {"t1"});
  EXPECT_EQ(h.topics_of("a"), (std::set<std::string>{"t2"}));
  auto u = update_on({"t1"});
  EXPECT_EQ(h.publish(u, {"t1"}), 0u);
  EXPECT_EQ(h.publish(u, {"t2"}), 1u);
  {
    auto gone = std::make_shared<fake_session>("gone");
    h.attach(gone);
    h.subscribe("gone", {"t2"});
  }
  EXPECT_EQ(h.publish(u, {"t2"}), 1u);  // the destroyed session is skipped
  h.shut_down_all();
  EXPECT_EQ(a->shutdowns, 1);
  h.detach("a");
  EXPECT_EQ(h.publish(u, {"t2"}), 0u);
}

struct fake_lane : delivery_lane {
  void post(std::function<void()> task) override { tasks.push_back(std::move(task)); }
  std::vector<std::function<void()>> tasks;
};

struct lane_session : subscriber {
  lane_session(std::string i, fake_lane* l, bool take) : sid(std::move(i)), ln(l), takes(take) {}
  const std::string& id() const override { return sid; }
  delivery_lane* lane() const override { return ln; }
  void deliver(outgoing_frame f) override { posted.push_back(std::move(f)); }
  const std::string* deliver_here(outgoing_frame f) override {
    here.push_back(std::move(f));
    return takes ? &sid : nullptr;
  }
  void shut_down() override {}
  std::string sid;
  fake_lane* ln;
  bool takes;  // false: as a session still replaying (the frame is not a live delivery)
  std::vector<outgoing_frame> posted, here;
};

TEST(hub, sessions_sharing_a_lane_get_one_task_per_update_and_one_delivery_report) {
  hub h;
  std::vector<std::pair<std::uint64_t, std::vector<std::string>>> reports;
  h.on_delivered([&](std::uint64_t seq, const std::vector<const std::string*>& agents) {
    std::vector<std::string> names;
    for (const auto* a : agents) names.push_back(*a);
    reports.emplace_back(seq, names);
  });
  fake_lane l1, l2;
  auto a = std::make_shared<lane_session>("a", &l1, true);
  auto b = std::make_shared<lane_session>("b", &l1, false);
  auto c = std::make_shared<lane_session>("c", &l2, true);
  auto d = std::make_shared<fake_session>("d");  // a strand of its own
  for (const std::shared_ptr<subscriber>& s : std::vector<std::shared_ptr<subscriber>>{a, b, c, d}) {
    h.attach(s);
    h.subscribe(s->id(), {"t"});
  }
  auto u = update_on({"t"});
  EXPECT_EQ(h.publish(u, {"t"}), 4u);
  ASSERT_EQ(l1.tasks.size(), 1u);  // a and b: one task
  ASSERT_EQ(l2.tasks.size(), 1u);
  EXPECT_TRUE(a->here.empty());    // nothing runs before the lane does
  ASSERT_EQ(d->frames.size(), 1u);
  l1.tasks[0]();
  l2.tasks[0]();
  ASSERT_EQ(a->here.size(), 1u);
  ASSERT_EQ(b->here.size(), 1u);
  ASSERT_EQ(c->here.size(), 1u);
  EXPECT_TRUE(a->posted.empty());
  EXPECT_EQ(a->here[0].tail.get(), c->here[0].tail.get());
  EXPECT_EQ(a->here[0].seq, 7u);
  // The head was built at subscribe: the same object for every update to a.
  EXPECT_EQ(h.publish(u, {"t"}), 4u);
  l1.tasks[1]();
  EXPECT_EQ(a->here[0].head.get(), a->here[1].head.get());
  auto fa = rpc::decode(*a->here[0].head + *a->here[0].tail);
  EXPECT_EQ(nlohmann::json::parse(fa.req->arguments_json)["subscription"]["id"], "a");
  // Only the sessions that took the frame live are reported, once per lane and update.
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0], (std::pair<std::uint64_t, std::vector<std::string>>{7, {"a"}}));
  EXPECT_EQ(reports[1], (std::pair<std::uint64_t, std::vector<std::string>>{7, {"c"}}));
}

}  // namespace
}  // namespace pdl::server
