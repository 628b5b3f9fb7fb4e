// data_agent's wiring of periodic_refresh: schedules from each base load, refreshes through the
// updater, reschedules on a reload, and a resumed process fetches the config only to schedule.
#include "agent/data_agent.hpp"

#include <gtest/gtest.h>

#include "shared/net.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/loop.hpp"
#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

model::data_source_entry entry(std::string path, std::optional<double> every) {
  model::data_source_entry e;
  e.dst_path = path;
  e.url = "http://source.test" + path;
  e.periodic_update_interval = every;
  return e;
}

class data_agent_refresh : public ::testing::Test {
 protected:
  void make(std::unique_ptr<data_directory> dir = nullptr) {
    auto feed_p = std::make_unique<test::fake_feed>();
    auto fetcher_p = std::make_unique<test::fake_fetcher>();
    auto store_p = std::make_unique<test::fake_store>();
    feed = feed_p.get();
    fetcher = fetcher_p.get();
    store = store_p.get();
    data_agent_parts parts;
    parts.feed = std::move(feed_p);
    parts.fetcher = std::move(fetcher_p);
    parts.store = std::move(store_p);
    parts.dir = std::move(dir);
    parts.load_base = [this](std::size_t) {
      ++load_calls;
      std::lock_guard lock(mu);
      return base_entries;
    };
    parts.load_refresh_schedule = [this](std::size_t) {
      ++schedule_calls;
      std::lock_guard lock(mu);
      return base_entries;
    };
    data_agent_options o;
    o.retry_min = 5ms;
    o.retry_max = 50ms;
    o.probe_interval = 20ms;
    o.marker_interval = 20ms;
    o.seed = 5;
    o.refresh_min_interval = 1ms;
    agent = std::make_unique<data_agent>(ioc, pool, o, std::move(parts));
    agent->start();
    ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  }

  void connect(bool ours) {
    feed->handlers.on_connected(feed_connection_info{"ws://s:7002/ws", 0, ours});
  }

  bool last_write_is(const std::string& path, const std::string& body) {
    const auto w = store->writes_to(path);
    return !w.empty() && w.back().body == body;
  }

  void TearDown() override {
    if (agent) {
      agent->stop();
      ioc.restart();
      ioc.run_for(5s);
      EXPECT_TRUE(ioc.stopped());  // every refresh timer was cancelled
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
  std::atomic<int> load_calls{0};
  std::atomic<int> schedule_calls{0};
};

TEST_F(data_agent_refresh, a_periodic_base_entry_is_refetched_and_its_new_answer_written) {
  base_entries = {entry("/users", 0.01), entry("/static", std::nullopt)};
  make();
  fetcher->set("http://source.test/users", R"({"v":1})");
  fetcher->set("http://source.test/static", R"({"s":1})");
  connect(true);
  ASSERT_TRUE(run_until(ioc, [&] { return last_write_is("/users", R"({"v":1})"); }));
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  fetcher->set("http://source.test/users", R"({"v":2})");
  ASSERT_TRUE(run_until(ioc, [&] { return last_write_is("/users", R"({"v":2})"); }));
  EXPECT_EQ(store->writes_to("/static").size(), 1u);  // not periodic: loaded once
  EXPECT_EQ(load_calls.load(), 1);                      // refreshes do not reload the config
  EXPECT_EQ(schedule_calls.load(), 0);
}

TEST_F(data_agent_refresh, a_base_reload_replaces_the_schedule) {
  base_entries = {entry("/a", 0.005)};
  make();
  fetcher->set("http://source.test/a", "1");
  fetcher->set("http://source.test/b", "2");
  connect(false);  // an OPAL server: every connect reloads the base config
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes_to("/a").size() >= 3; }));
  {
    std::lock_guard lock(mu);
    base_entries = {entry("/b", 0.005)};
  }
  feed->handlers.on_disconnected("test");
  connect(false);
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes_to("/b").size() >= 1; }));
  const auto a_after_reload = store->writes_to("/a").size();
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes_to("/b").size() >= 4; }));
  // At most one /a refresh that was already queued when the reload began may still land.
  EXPECT_LE(store->writes_to("/a").size(), a_after_reload + 1);
  EXPECT_EQ(load_calls.load(), 2);
}

TEST_F(data_agent_refresh, a_resumed_agent_fetches_the_config_only_to_schedule) {
  test::temp_dir dir;
  {
    auto d = data_directory::open(dir.path());
    d->save({7, true, {}});
  }
  base_entries = {entry("/users", 0.005), entry("/static", std::nullopt)};
  make(data_directory::open(dir.path()));
  fetcher->set("http://source.test/users", R"({"v":3})");
  fetcher->set("http://source.test/static", R"({"s":1})");
  connect(true);  // ours, base already loaded by an earlier process: resume, no base reload
  ASSERT_TRUE(run_until(ioc, [&] { return last_write_is("/users", R"({"v":3})"); }));
  EXPECT_EQ(load_calls.load(), 0);
  EXPECT_EQ(schedule_calls.load(), 1);
  EXPECT_TRUE(store->writes_to("/static").empty());  // the base is not rewritten
  // A reconnect keeps the schedule: no second fetch.
  feed->handlers.on_disconnected("test");
  connect(true);
  const auto writes = store->writes_to("/users").size();
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes_to("/users").size() > writes; }));
  EXPECT_EQ(schedule_calls.load(), 1);
}

}  // namespace
}  // namespace pdl::agent
