#include "server/redis_deliveries.hpp"

#include <atomic>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace pdl::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/** One replica's delivery side: its tracker, its published seq, its sharing. */
struct replica {
  replica(const test::redis_server& redis, std::string id, std::size_t tracked = 10)
      : tracker(tracked) {
    redis_deliveries_options o;
    o.where = redis::parse_uri(redis.uri());
    o.key_prefix = "t";
    o.replica_id = std::move(id);
    o.timeout = 1000ms;
    o.flush_interval = 20ms;
    o.heartbeat_interval = 100ms;
    o.alive_ttl = 2000ms;
    share = std::make_unique<redis_deliveries>(o, tracker, [this] { return published.load(); });
  }
  void accept(const std::string& id, std::uint64_t seq) {
    tracker.accepted(id, seq, {"users"}, std::chrono::system_clock::now());
    published = seq;
  }
  json status(const std::string& id) {
    auto local = tracker.snapshot(id);
    return local ? json::parse(share->status_json(*local)) : json();
  }

  delivery_tracker tracker;
  std::atomic<std::uint64_t> published{0};
  std::unique_ptr<redis_deliveries> share;
};

class redis_deliveries_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_redis_server()) GTEST_SKIP() << "redis-server is not installed";
    redis = std::make_unique<test::redis_server>(dir.path());
  }
  test::temp_dir dir;
  std::unique_ptr<test::redis_server> redis;
};

TEST_F(redis_deliveries_test, either_replica_answers_with_the_agents_of_both) {
  replica a(*redis, "ra");
  replica b(*redis, "rb");
  a.share->start();
  b.share->start();
  a.accept("u1", 1);
  b.accept("u1", 1);
  a.tracker.delivered(1, "agent-a");
  b.tracker.delivered(1, "agent-b");
  a.tracker.acknowledged("u1", 1, "agent-a", true, {});
  b.tracker.acknowledged("u1", 1, "agent-b", false, {"/users: fetch failed: HTTP 404"});

  for (replica* r : {&a, &b}) {
    json s;
    ASSERT_TRUE(test::poll_until([&] {
      s = r->status("u1");
      // (Until the other replica's first heartbeat it is not known to exist.)
      return s.is_object() && s["complete"] == true && s["replicas"]["reported"] == 2;
    })) << s.dump();
    EXPECT_EQ(s["agents"]["subscribed"], json::array({"agent-a", "agent-b"}));
    EXPECT_EQ(s["agents"]["applied"], json::array({"agent-a"}));
    EXPECT_EQ(s["agents"]["failed"], json::parse(R"([{"agent":"agent-b",
               "errors":["/users: fetch failed: HTTP 404"]}])"));
    EXPECT_EQ(s["replicas"]["reported"], 2);
  }
}

TEST_F(redis_deliveries_test, a_live_replica_that_has_not_reported_keeps_it_incomplete) {
  replica a(*redis, "ra");
  a.share->start();
  a.accept("u1", 1);
  // Another replica's heartbeat, through seq 0 only.
  redis->cli({"SET", "t:dlv:alive:rc", "0", "PX", "60000"});
  redis->cli({"SADD", "t:dlv:replicas", "rc"});
  json s = a.status("u1");
  EXPECT_EQ(s["complete"], false);
  EXPECT_EQ(s["replicas"]["waiting"], json::array({"rc"}));
  EXPECT_TRUE(s["agents"]["subscribed"].empty());
  // It reports: complete, with its agent.
  redis->cli({"HSET", "t:dlv:1", "rc:agent-c", "a5"});
  redis->cli({"SET", "t:dlv:alive:rc", "1", "PX", "60000"});
  s = a.status("u1");
  EXPECT_EQ(s["complete"], true);
  EXPECT_EQ(s["agents"]["applied"], json::array({"agent-c"}));
  // It is gone (heartbeat expired): no longer waited for, even on later updates.
  redis->cli({"DEL", "t:dlv:alive:rc"});
  a.accept("u2", 2);
  EXPECT_EQ(a.status("u2")["complete"], true);
}

TEST_F(redis_deliveries_test, corrupt_entries_in_redis_are_ignored_not_fatal) {
  replica a(*redis, "ra");
  a.share->start();
  a.accept("u1", 1);
  a.tracker.delivered(1, "agent-a");
  a.tracker.acknowledged("u1", 1, "agent-a", true, {});
  redis->cli({"HSET", "t:dlv:1", "garbage", "a1", "rb:x", "not a state", "rb:y",
              "f1\n[\"ok\",", "rb:good", "a3"});
  redis->cli({"SET", "t:dlv:alive:rb", "not-a-number", "PX", "60000"});
  redis->cli({"SADD", "t:dlv:replicas", "rb", "BAD ID"});
  json s = a.status("u1");
  ASSERT_TRUE(s.is_object());
  // rb's heartbeat is unreadable, so rb counts as gone: its outcome is kept all the same.
  EXPECT_EQ(s["agents"]["applied"], json::array({"agent-a", "good"}));
  EXPECT_EQ(s["complete"], true);
}

TEST_F(redis_deliveries_test, stop_leaves_the_outcomes_and_drops_the_heartbeat) {
  replica a(*redis, "ra");
  replica b(*redis, "rb");
  a.share->start();
  b.share->start();
  a.accept("u1", 1);
  b.accept("u1", 1);
  b.tracker.delivered(1, "agent-b");
  b.tracker.acknowledged("u1", 1, "agent-b", true, {});
  b.tracker.delivered(1, "agent-b2");  // pending on b
  ASSERT_TRUE(test::poll_until([&] {
    return a.status("u1")["agents"]["subscribed"].size() == 2;
  }));
  EXPECT_EQ(a.status("u1")["complete"], false);  // agent-b2 is pending on a live replica
  b.share->stop();
  EXPECT_EQ(redis->cli({"EXISTS", "t:dlv:alive:rb"}), "0");
  json s = a.status("u1");
  EXPECT_EQ(s["agents"]["subscribed"], json::array({"agent-b"}));  // b2 was connected to b only
  EXPECT_EQ(s["complete"], true);
}

TEST_F(redis_deliveries_test, entries_leave_redis_with_the_tracked_window) {
  replica a(*redis, "ra", 2);
  a.share->start();
  a.accept("u1", 1);
  a.tracker.delivered(1, "agent-a");
  ASSERT_TRUE(test::poll_until([&] { return redis->cli({"EXISTS", "t:dlv:1"}) == "1"; }));
  EXPECT_GT(std::stoll(redis->cli({"PTTL", "t:dlv:1"})), 0);  // bounded in time as well
  a.accept("u2", 2);
  a.accept("u3", 3);  // u1 leaves the window
  EXPECT_TRUE(test::poll_until([&] { return redis->cli({"EXISTS", "t:dlv:1"}) == "0"; }));
}

TEST_F(redis_deliveries_test, redis_away_is_an_error_to_the_caller_and_shares_resume_after) {
  replica a(*redis, "ra");
  a.share->start();
  a.accept("u1", 1);
  redis->kill();
  a.tracker.delivered(1, "agent-a");
  auto local = a.tracker.snapshot("u1");
  EXPECT_THROW(a.share->status_json(*local), redis::redis_error);
  redis->start();
  // The change made while Redis was away is written once it is back.
  EXPECT_TRUE(test::poll_until([&] {
    return redis->cli({"HEXISTS", "t:dlv:1", "ra:agent-a"}) == "1";
  }, 10000ms));
}

}  // namespace
}  // namespace pdl::server
