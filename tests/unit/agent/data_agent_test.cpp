#include "agent/data_agent.hpp"

#include <gtest/gtest.h>

#include <future>

#include "shared/http/client.hpp"
#include "shared/net.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

model::data_source_entry inline_entry(std::string path, std::string data,
                                      std::vector<std::string> topics = {"policy_data"}) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.data_json = std::move(data);
  e.topics = std::move(topics);
  return e;
}

class data_agent_test : public ::testing::Test {
 protected:
  void make(bool with_api = false) {
    auto feed_p = std::make_unique<test::fake_feed>();
    auto fetcher_p = std::make_unique<test::fake_fetcher>();
    auto store_p = std::make_unique<test::fake_store>();
    feed = feed_p.get();
    fetcher = fetcher_p.get();
    store = store_p.get();
    data_agent_parts parts{std::move(feed_p), std::move(fetcher_p), std::move(store_p),
                           [this](std::size_t) { return load(); }};
    data_agent_options o;
    o.retry_min = 5ms;
    o.retry_max = 50ms;
    o.probe_interval = 20ms;
    o.seed = 11;
    if (with_api) {
      api_options api;
      api.port = 0;
      o.api = api;
    }
    agent = std::make_unique<data_agent>(ioc, pool, o, std::move(parts));
  }

  std::vector<model::data_source_entry> load() {
    ++load_calls;
    if (before_load) {
      before_load();
    }
    std::lock_guard lock(mu);
    if (load_failures > 0) {
      --load_failures;
      throw std::runtime_error("base data config: server answered HTTP 500");
    }
    return base_entries;
  }

  void connect() { feed->handlers.on_connected(feed_connection_info{"ws://s:7002/ws", 0, true}); }

  /** GET on the agent's API while the io_context runs here. */
  std::pair<long, std::string> get(const std::string& path) {
    auto fut = std::async(std::launch::async, [port = agent->api_port(), path] {
      http_client::request req;
      req.url = "http://127.0.0.1:" + std::to_string(port) + path;
      auto r = http_client::perform(req);
      const auto* resp = std::get_if<http_client::response>(&r);
      return resp ? std::make_pair(resp->status, resp->body) : std::make_pair(0L, std::string());
    });
    run_until(ioc, [&] { return fut.wait_for(0s) == std::future_status::ready; });
    return fut.get();
  }

  void TearDown() override {
    if (agent) {
      agent->stop();
      // The agent's tasks end on their own once stopped: run until the loop has no work.
      ioc.restart();
      ioc.run_for(5s);
      EXPECT_TRUE(ioc.stopped());
    }
    pool.join();
  }

  net::io_context ioc;
  net::thread_pool pool{2};
  test::fake_feed* feed = nullptr;
  test::fake_fetcher* fetcher = nullptr;
  test::fake_store* store = nullptr;
  std::unique_ptr<data_agent> agent;

  std::mutex mu;
  std::vector<model::data_source_entry> base_entries;
  int load_failures = 0;
  std::atomic<int> load_calls{0};
  std::function<void()> before_load;
};

TEST_F(data_agent_test, waits_for_the_engine_then_connects_and_becomes_ready) {
  base_entries = {inline_entry("/static", R"({"seed":true})")};
  make();
  store->healthy = false;
  agent->start();
  run_until(ioc, [] { return false; }, 60ms);  // several probe rounds with the engine down
  EXPECT_FALSE(feed->started);
  EXPECT_FALSE(agent->state().ready());
  EXPECT_FALSE(agent->state().engine_reachable());

  store->healthy = true;
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  EXPECT_FALSE(agent->state().ready());  // not connected, nothing loaded
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  ASSERT_EQ(store->writes().size(), 1u);
  EXPECT_EQ(store->writes()[0].path, "/static");
  EXPECT_TRUE(agent->state().health().healthy);
}

TEST_F(data_agent_test, empty_or_non_matching_base_config_counts_as_loaded) {
  base_entries = {inline_entry("/other", "1", {"not_mine"})};
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  EXPECT_TRUE(store->writes().empty());
}

TEST_F(data_agent_test, base_entries_below_the_agent_topic_are_applied) {
  base_entries = {inline_entry("/t1", "1", {"policy_data/tenants/t1"})};
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  EXPECT_EQ(store->writes().size(), 1u);
}

TEST_F(data_agent_test, failed_initial_load_is_retried) {
  base_entries = {inline_entry("/static", "{}")};
  load_failures = 2;
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  EXPECT_GE(load_calls.load(), 3);
}

TEST_F(data_agent_test, failed_base_write_is_retried_until_it_succeeds) {
  base_entries = {inline_entry("/static", "{}")};
  make();
  store->fail_path("/static", 500);
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return load_calls.load() >= 2; }));
  EXPECT_FALSE(agent->state().ready());
  EXPECT_FALSE(agent->state().health().healthy);
  store->clear_failures();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  EXPECT_TRUE(agent->state().health().healthy);
}

TEST_F(data_agent_test, notifies_during_the_base_load_apply_after_it) {
  base_entries = {inline_entry("/static", R"({"v":"base"})")};
  test::gate release;
  before_load = [&] { release.wait(); };
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return load_calls.load() == 1; }));
  model::data_update u;
  u.entries = {inline_entry("/static", R"({"v":"notify"})")};
  feed->handlers.on_update(u, "policy_data");
  run_until(ioc, [] { return false; }, 20ms);
  EXPECT_TRUE(store->writes().empty());  // held behind the base load
  release.open();
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes().size() == 2; }));
  EXPECT_EQ(store->writes()[0].body, R"({"v":"base"})");
  EXPECT_EQ(store->writes()[1].body, R"({"v":"notify"})");
}

TEST_F(data_agent_test, health_follows_engine_connection_and_writes) {
  make(true);
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  EXPECT_EQ(get("/ready").first, 503);
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  auto [status, body] = get("/ready");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, R"({"status":"ok"})");
  std::tie(status, body) = get("/healthy");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, R"({"status":"ok","online":true})");

  // Engine down: unhealthy (ready stays); back up: healthy, base data reloaded.
  const auto loads_before = load_calls.load();
  store->healthy = false;
  ASSERT_TRUE(run_until(ioc, [&] { return !agent->state().health().healthy; }));
  std::tie(status, body) = get("/healthcheck");
  EXPECT_EQ(status, 503);
  EXPECT_NE(body.find("unavailable"), std::string::npos);
  EXPECT_NE(body.find("engine"), std::string::npos);
  EXPECT_EQ(get("/ready").first, 200);
  store->healthy = true;
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().health().healthy; }));
  ASSERT_TRUE(run_until(ioc, [&] { return load_calls.load() > loads_before; }));

  // Server connection lost and back.
  feed->handlers.on_disconnected("connection reset");
  std::tie(status, body) = get("/");
  EXPECT_EQ(status, 503);
  EXPECT_NE(body.find("connection reset"), std::string::npos);
  connect();
  EXPECT_EQ(get("/").first, 200);

  // A failed write, then a successful one.
  store->fail_path("/x", 500);
  model::data_update u;
  u.entries = {inline_entry("/x", "1")};
  feed->handlers.on_update(u, "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return !agent->state().health().healthy; }));
  EXPECT_EQ(get("/healthy").first, 503);
  store->clear_failures();
  feed->handlers.on_update(u, "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().health().healthy; }));

  std::tie(status, body) = get("/status");
  EXPECT_EQ(status, 200);
  EXPECT_NE(body.find("\"/x\""), std::string::npos);
  EXPECT_EQ(get("/nope").first, 404);
}

TEST_F(data_agent_test, stop_stops_the_feed) {
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  agent->stop();
  EXPECT_TRUE(feed->stopped);
}

}  // namespace
}  // namespace pdl::agent
