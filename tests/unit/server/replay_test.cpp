#include "server/ws_session.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "server/file_update_log.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;

/** A server with a durable log in a temp dir (restartable on the same dir). */
class replay : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { keys_ = new pem_pair(make_pem_pair()); }
  static void TearDownTestSuite() { delete keys_; }

  void SetUp() override { start(); }

  void start() {
    auto cfg = test_config(*keys_);
    cfg.data_dir = dir_.path();
    cfg.ws_send_queue_max = 8;
    srv_ = server::start(cfg);
    datasource_ = mint(port(), "datasource");
    client_ = mint(port(), "client");
  }
  void restart() {
    srv_.reset();
    start();
  }

  std::uint16_t port() { return srv_->port(); }

  std::uint64_t publish(const std::string& topic, const std::string& data = R"({"x":1})") {
    auto r = call(port(), "POST", "/data/config", datasource_, good_update({topic}, data));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["seq"].get<std::uint64_t>();
  }

  /** Reads notifies until one with @p last_seq arrives; returns their seqs. */
  static std::vector<std::uint64_t> read_until(ws_client& c, std::uint64_t last_seq) {
    std::vector<std::uint64_t> seqs;
    while (seqs.empty() || seqs.back() < last_seq) {
      seqs.push_back(c.read_notify()["seq"].get<std::uint64_t>());
    }
    return seqs;
  }

  /** Sends a ping and reads up to its answer: proves nothing else was queued before it. */
  static std::vector<std::uint64_t> drain_with_ping(ws_client& c) {
    std::vector<std::uint64_t> seqs;
    auto id = c.call("_ping_", "{}");
    for (;;) {
      rpc::frame f = c.read();
      if (f.resp && f.resp->call_id == id) {
        return seqs;
      }
      if (f.req && f.req->method == "notify") {
        seqs.push_back(json::parse(f.req->arguments_json)["data"]["seq"].get<std::uint64_t>());
      }
    }
  }

  static pem_pair* keys_;
  pdl::test::temp_dir dir_;
  std::unique_ptr<server> srv_;
  std::string datasource_;
  std::string client_;
};
pem_pair* replay::keys_ = nullptr;

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  for (auto s = from; s <= to; ++s) {
    out.push_back(s);
  }
  return out;
}

TEST_F(replay, resume_sends_exactly_the_missing_matching_updates_in_order_then_live) {
  std::vector<std::uint64_t> users;
  for (int i = 0; i < 6; ++i) {
    users.push_back(publish("users"));
    publish("other");  // not subscribed: never replayed
  }
  ws_client c(port(), client_, ws_client::protocol1("agent-a"));
  ASSERT_EQ(c.subscribe_after({"users"}, users[2]), "true");
  EXPECT_EQ(read_until(c, users.back()),
            (std::vector<std::uint64_t>{users[3], users[4], users[5]}));
  auto live = publish("users");
  EXPECT_EQ(c.read_notify()["seq"], live);
  EXPECT_TRUE(drain_with_ping(c).empty());
}

TEST_F(replay, sequence_numbers_continue_and_replay_works_across_a_restart) {
  auto s1 = publish("users");
  auto s2 = publish("users");
  restart();
  auto s3 = publish("users");
  EXPECT_EQ(s3, s2 + 1);
  ws_client c(port(), client_, ws_client::protocol1("agent-a"));
  ASSERT_EQ(c.subscribe_after({"users"}, 0), "true");
  EXPECT_EQ(read_until(c, s3), (std::vector<std::uint64_t>{s1, s2, s3}));
}

TEST_F(replay, no_gap_no_duplicate_while_publishes_race_with_the_subscribe) {
  for (int i = 0; i < 20; ++i) {
    publish("race");
  }
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> published;
  std::thread publisher([&] {
    while (!stop.load()) {
      published.push_back(publish("race"));
    }
  });
  std::vector<std::uint64_t> got;
  {
    ws_client c(port(), client_, ws_client::protocol1("agent-race"));
    ASSERT_EQ(c.subscribe_after({"race"}, 5), "true");
    while (got.size() < 60) {
      got.push_back(c.read_notify()["seq"].get<std::uint64_t>());
    }
    stop = true;
    publisher.join();
    // Everything published up to now must arrive, exactly once, in order.
    if (got.back() < published.back()) {
      auto rest = read_until(c, published.back());
      got.insert(got.end(), rest.begin(), rest.end());
    }
    EXPECT_TRUE(drain_with_ping(c).empty());
  }
  EXPECT_EQ(got, range(6, published.back()));  // "race" was the only topic published
}

TEST_F(replay, a_large_replay_streams_through_the_bounded_queue) {
  std::uint64_t last = 0;
  for (int i = 0; i < 60; ++i) {  // send queue is 8: replay must wait for the socket
    last = publish("bulk", R"({"pad":")" + std::string(2000, 'p') + "\"}");
  }
  auto closed_before = srv_->context().stats.slow_sessions_closed.load();
  ws_client c(port(), client_, ws_client::protocol1("agent-bulk"));
  ASSERT_EQ(c.subscribe_after({"bulk"}, 0), "true");
  EXPECT_EQ(read_until(c, last), range(1, last));
  EXPECT_EQ(srv_->context().stats.slow_sessions_closed.load(), closed_before);
}

TEST_F(replay, after_a_compaction_replay_sends_the_survivors_which_rebuild_the_state) {
  auto put = [&](const std::string& path, int v) {
    json entry = {{"url", ""},       {"topics", {"cfg"}}, {"dst_path", path},
                  {"save_method", "PUT"}, {"data", {{"v", v}}}};
    auto r = call(port(), "POST", "/data/config", datasource_,
                  json{{"entries", {entry}}}.dump());
    EXPECT_EQ(r.status, 200);
    return r.json()["seq"].get<std::uint64_t>();
  };
  put("/a", 1);
  put("/b", 1);
  put("/a", 2);
  auto last_b = put("/b", 2);
  auto last_a = put("/a", 3);
  // Make everything history: compaction keeps only the last PUT per key.
  auto* log = dynamic_cast<file_update_log*>(srv_->context().updates.get());
  ASSERT_NE(log, nullptr);
  srv_.reset();
  {
    file_log_options o;
    o.dir = dir_.path();
    o.background = false;
    o.retention_bytes = 1;  // everything beyond the current state goes
    file_update_log offline(o);
    EXPECT_EQ(offline.maintain(), 3u);
  }
  start();
  EXPECT_EQ(srv_->context().updates->first_seq(), last_b);  // 1..3 are no longer complete
  ws_client c(port(), client_, ws_client::protocol1("agent-new"));
  ASSERT_EQ(c.subscribe_after({"cfg"}, 1), "true");  // older than the complete range
  json got_b = c.read_notify();
  json got_a = c.read_notify();
  EXPECT_EQ(got_b["seq"], last_b);
  EXPECT_EQ(got_b["entries"][0]["data"], json({{"v", 2}}));
  EXPECT_EQ(got_a["seq"], last_a);
  EXPECT_EQ(got_a["entries"][0]["data"], json({{"v", 3}}));
  EXPECT_TRUE(drain_with_ping(c).empty());
}

TEST_F(replay, a_second_subscribe_with_after_seq_replays_again_from_there) {
  auto s1 = publish("users");
  auto s2 = publish("users");
  ws_client c(port(), client_, ws_client::protocol1("agent-lost-engine"));
  ASSERT_EQ(c.subscribe_after({"users"}, s1), "true");
  EXPECT_EQ(c.read_notify()["seq"], s2);
  ASSERT_EQ(c.subscribe_after({"users"}, 0), "true");  // its engine restarted empty
  EXPECT_EQ(read_until(c, s2), (std::vector<std::uint64_t>{s1, s2}));
  auto s3 = publish("users");
  EXPECT_EQ(c.read_notify()["seq"], s3);
  EXPECT_TRUE(drain_with_ping(c).empty());
}

TEST_F(replay, an_agent_ahead_of_the_log_gets_the_whole_log) {
  auto s1 = publish("users");
  ws_client c(port(), client_, ws_client::protocol1("agent-future"));
  ASSERT_EQ(c.subscribe_after({"users"}, s1 + 1000), "true");
  EXPECT_EQ(c.read_notify()["seq"], s1);
  auto s2 = publish("users");
  EXPECT_EQ(c.read_notify()["seq"], s2);
}

TEST_F(replay, after_seq_is_ignored_without_protocol_1_and_refused_when_malformed) {
  publish("users");
  ws_client opal(port(), client_, {});  // an OPAL client: no X-PDL-Protocol
  ASSERT_EQ(opal.subscribe_after({"users"}, 0), "true");
  EXPECT_TRUE(drain_with_ping(opal).empty());  // nothing replayed
  ws_client ours(port(), client_);
  auto id = ours.call("subscribe", R"({"topics":["users"],"after_seq":-1})");
  EXPECT_EQ(ours.expect_response(id).result_json, "false");
}

}  // namespace
}  // namespace pdl::server
