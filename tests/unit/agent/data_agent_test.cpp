#include "agent/data_agent.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <future>

#include "shared/http/client.hpp"
#include "shared/net.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/loop.hpp"
#include "tests/unit/agent/temp_dir.hpp"

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

using tweak_fn = std::function<void(data_agent_options&, data_agent_parts&)>;

class data_agent_test : public ::testing::Test {
 protected:
  void make(bool with_api = false, const tweak_fn& tweak = {}) {
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
    parts.load_base = [this](std::size_t) { return load(); };
    data_agent_options o;
    o.retry_min = 5ms;
    o.retry_max = 50ms;
    o.probe_interval = 20ms;
    o.seed = 11;
    o.marker_interval = 20ms;
    if (with_api) {
      api_options api;
      api.port = 0;
      o.api = api;
    }
    if (tweak) {
      tweak(o, parts);
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

  void connect(bool ours = true) {
    feed->handlers.on_connected(feed_connection_info{"ws://s:7002/ws", 0, ours});
  }

  /** The store's writes without the agent's marker document. */
  std::vector<test::recorded_write> data_writes() {
    std::vector<test::recorded_write> out;
    for (auto& w : store->writes()) {
      if (w.path != marker_path) {
        out.push_back(std::move(w));
      }
    }
    return out;
  }

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
  ASSERT_EQ(data_writes().size(), 1u);
  EXPECT_EQ(data_writes()[0].path, "/static");
  EXPECT_TRUE(agent->state().health().healthy);
}

TEST_F(data_agent_test, empty_or_non_matching_base_config_counts_as_loaded) {
  base_entries = {inline_entry("/other", "1", {"not_mine"})};
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  EXPECT_TRUE(data_writes().empty());
}

TEST_F(data_agent_test, base_entries_below_the_agent_topic_are_applied) {
  base_entries = {inline_entry("/t1", "1", {"policy_data/tenants/t1"})};
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  EXPECT_EQ(data_writes().size(), 1u);
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
  // Below the base entry's path: a PUT of /static itself would supersede the base entry.
  u.entries = {inline_entry("/static/v", R"("notify")")};
  feed->handlers.on_update(u, "policy_data");
  run_until(ioc, [] { return false; }, 20ms);
  EXPECT_TRUE(data_writes().empty());  // held behind the base load
  release.open();
  ASSERT_TRUE(run_until(ioc, [&] { return data_writes().size() == 2; }));
  EXPECT_EQ(data_writes()[0].body, R"({"v":"base"})");
  EXPECT_EQ(data_writes()[1].body, R"("notify")");
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

  // A first write puts the marker in place.
  model::data_update first;
  first.entries = {inline_entry("/seen", "1")};
  feed->handlers.on_update(first, "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return store->get(marker_path).has_value(); }));

  // Engine down: unhealthy (ready stays); back up with its data (marker kept): healthy, nothing
  // reloaded. Back up empty (marker gone): without a data directory the agent starts over from
  // the server (protocol 1: a fresh subscription replays everything).
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
  EXPECT_EQ(load_calls.load(), loads_before);
  store->wipe();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->reconnects == 1; }));
  EXPECT_EQ(agent->engine_rewrites(), 1u);
  ASSERT_TRUE(run_until(ioc, [&] { return store->get(marker_path).has_value(); }));

  // Server connection lost and back (the fresh subscription loads the base again).
  feed->handlers.on_disconnected("connection reset");
  std::tie(status, body) = get("/");
  EXPECT_EQ(status, 503);
  EXPECT_NE(body.find("connection reset"), std::string::npos);
  connect();
  EXPECT_EQ(get("/").first, 200);
  ASSERT_TRUE(run_until(ioc, [&] { return load_calls.load() > loads_before; }));

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

model::data_update numbered(std::string id, std::uint64_t seq,
                            std::vector<model::data_source_entry> entries) {
  model::data_update u;
  u.id = std::move(id);
  u.seq = seq;
  u.entries = std::move(entries);
  return u;
}

/** A data directory that already holds state: a saved seq and a backup of /users. */
void seed_dir(const test::temp_dir& dir, std::optional<std::uint64_t> seq, bool base_loaded) {
  auto d = data_directory::open(dir.path());
  d->save({seq, base_loaded, {}});
  d->backup().record("/users", true, store_body::from_text(R"({"alice":{}})"));
  d->backup().record("/users", false,
                     store_body::from_text(R"([{"op":"add","path":"/bob","value":{}}])"));
}

tweak_fn with_dir(const test::temp_dir& dir, bool ready_when_stale = true) {
  return [&dir, ready_when_stale](data_agent_options& o, data_agent_parts& p) {
    p.dir = data_directory::open(dir.path());
    o.ready_when_stale = ready_when_stale;
  };
}

TEST_F(data_agent_test, offline_start_restores_the_backup_and_reports_ready_but_stale) {
  test::temp_dir dir;
  seed_dir(dir, 7, true);
  make(true, with_dir(dir));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  // The engine was empty (no marker): restored in order, then the marker.
  const auto w = data_writes();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].method + " " + w[0].path, "PUT /users");
  EXPECT_EQ(w[1].method + " " + w[1].path, "PATCH /users");
  EXPECT_TRUE(store->get(marker_path).has_value());
  EXPECT_TRUE(agent->state().ready());
  EXPECT_TRUE(agent->state().stale());
  auto [status, body] = get("/healthy");
  EXPECT_EQ(status, 200);
  EXPECT_NE(body.find(R"("online":false)"), std::string::npos);
  EXPECT_EQ(get("/ready").first, 200);
  EXPECT_EQ(load_calls.load(), 0);

  // The server comes back: resume after the saved seq, no base reload, online again.
  EXPECT_EQ(feed->handlers.resume_after(), 7u);
  connect();
  std::tie(status, body) = get("/healthy");
  EXPECT_EQ(body, R"({"status":"ok","online":true})");
  EXPECT_FALSE(agent->state().stale());
  EXPECT_EQ(load_calls.load(), 0);
}

TEST_F(data_agent_test, without_ready_when_stale_the_agent_waits_for_the_server) {
  test::temp_dir dir;
  seed_dir(dir, 7, true);
  make(false, with_dir(dir, false));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  EXPECT_EQ(data_writes().size(), 2u);  // restored all the same
  EXPECT_FALSE(agent->state().ready());
  connect();
  EXPECT_TRUE(agent->state().ready());
}

TEST_F(data_agent_test, an_engine_that_kept_our_marker_is_not_restored) {
  test::temp_dir dir;
  seed_dir(dir, 7, true);
  make(false, with_dir(dir));
  store->put(marker_path, store_body::from_text(R"({"agent":"x","epoch":1})"));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  EXPECT_TRUE(data_writes().empty());
  EXPECT_TRUE(agent->state().ready());
}

TEST_F(data_agent_test, resume_skips_applied_seqs_acknowledges_and_saves_the_seq) {
  test::temp_dir dir;
  seed_dir(dir, 7, true);
  make(false, with_dir(dir));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  feed->handlers.on_update(numbered("u7", 7, {inline_entry("/x", "1")}), "policy_data");
  feed->handlers.on_update(numbered("u8", 8, {inline_entry("/y", "2")}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 2; }));
  EXPECT_EQ(feed->acks[0].id, "u7");  // already applied: acknowledged as such, not rewritten
  EXPECT_TRUE(feed->acks[0].ok);
  EXPECT_EQ(feed->acks[1].id, "u8");
  EXPECT_EQ(feed->acks[1].seq, 8u);
  EXPECT_TRUE(feed->acks[1].ok);
  EXPECT_TRUE(store->writes_to("/x").empty());
  EXPECT_EQ(store->writes_to("/y").size(), 1u);
  EXPECT_EQ(load_calls.load(), 0);
  // The seq reaches the disk, and the write the backup.
  ASSERT_TRUE(run_until(ioc, [&] {
    std::string text;
    std::ifstream in(dir.file("state.json"));
    std::getline(in, text);
    return text.find(R"("last_applied_seq":8)") != std::string::npos;
  }));
  EXPECT_EQ(feed->handlers.resume_after(), 8u);
}

TEST_F(data_agent_test, without_saved_state_the_base_loads_once_then_reconnects_resume) {
  base_entries = {inline_entry("/static", "{}")};
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  EXPECT_EQ(feed->handlers.resume_after(), 0u);
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  feed->handlers.on_update(numbered("u3", 3, {inline_entry("/a", "1")}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 1; }));
  feed->handlers.on_disconnected("reset");
  EXPECT_EQ(feed->handlers.resume_after(), 3u);
  connect();
  run_until(ioc, [] { return false; }, 30ms);
  EXPECT_EQ(load_calls.load(), 1);
}

TEST_F(data_agent_test, a_new_server_log_id_reloads_the_base_and_replays_from_the_start) {
  test::temp_dir dir;
  base_entries = {inline_entry("/static", "{}")};
  make(false, with_dir(dir));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  feed->handlers.on_log_id("log-a");
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  feed->handlers.on_update(numbered("u5", 5, {inline_entry("/a", "1")}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 1; }));
  feed->handlers.on_disconnected("server killed");
  feed->handlers.on_log_id("log-a");  // the same log: resume after 5
  EXPECT_EQ(feed->handlers.resume_after(), 5u);
  feed->handlers.on_log_id("log-b");  // the server lost its log: seqs start over
  EXPECT_EQ(feed->handlers.resume_after(), 0u);
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return load_calls.load() == 2; }));
  feed->handlers.on_update(numbered("n1", 1, {inline_entry("/b", "2")}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes_to("/b").size() == 1; }));
  ASSERT_TRUE(run_until(ioc, [&] {
    std::string text;
    std::ifstream in(dir.file("state.json"));
    std::getline(in, text);
    return text.find(R"("server_log_id":"log-b")") != std::string::npos;
  }));
}

TEST_F(data_agent_test, an_opal_server_gets_base_reloads_and_no_acknowledgements) {
  test::temp_dir dir;
  seed_dir(dir, 7, true);
  make(false, with_dir(dir));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect(false);
  ASSERT_TRUE(run_until(ioc, [&] { return load_calls.load() == 1; }));
  feed->handlers.on_update(numbered("u9", 9, {inline_entry("/a", "1")}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes_to("/a").size() == 1; }));
  feed->handlers.on_disconnected("reset");
  connect(false);
  ASSERT_TRUE(run_until(ioc, [&] { return load_calls.load() == 2; }));
  EXPECT_TRUE(feed->acks.empty());
}

TEST_F(data_agent_test, pdl_applied_reports_the_failed_entries) {
  make();
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  store->fail_path("/bad", 400);
  feed->handlers.on_update(numbered("u1", 1, {inline_entry("/bad", "1"), inline_entry("/good", "2")}),
                           "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 1; }));
  EXPECT_EQ(feed->acks[0].id, "u1");
  EXPECT_EQ(feed->acks[0].seq, 1u);
  EXPECT_FALSE(feed->acks[0].ok);
  ASSERT_EQ(feed->acks[0].errors.size(), 1u);
  EXPECT_NE(feed->acks[0].errors[0].find("/bad"), std::string::npos);
  EXPECT_NE(feed->acks[0].errors[0].find("400"), std::string::npos);
}

TEST_F(data_agent_test, a_lost_marker_makes_the_agent_rewrite_everything_from_the_backup) {
  test::temp_dir dir;
  base_entries = {inline_entry("/static", R"({"s":1})")};
  make(false, with_dir(dir));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  feed->handlers.on_update(numbered("u1", 1, {inline_entry("/users", R"({"a":1})")}),
                           "policy_data");
  model::data_source_entry patch =
      inline_entry("/users", R"([{"op":"add","path":"/b","value":2}])");
  patch.method = model::save_method::patch;
  feed->handlers.on_update(numbered("u2", 2, {patch}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 2; }));

  // The engine restarts empty.
  store->wipe();
  store->clear_writes();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->engine_rewrites() == 1; }));
  const auto all = store->writes();
  std::vector<std::string> got;
  for (const auto& w : all) {
    got.push_back(w.method + " " + w.path);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"PUT /static", "PUT /users", "PATCH /users",
                                           std::string("PUT ") + marker_path}));
  EXPECT_EQ(load_calls.load(), 1);  // from the backup, not from the server
}

TEST_F(data_agent_test, writes_that_gave_up_are_rewritten_once_the_engine_takes_them) {
  test::temp_dir dir;
  make(false, [&](data_agent_options& o, data_agent_parts& p) {
    p.dir = data_directory::open(dir.path());
    o.entry_retry_attempts = 2;
    o.entry_retry_min = 1ms;
    o.entry_retry_max = 2ms;
  });
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  store->fail_path("/u", 0);  // writes do not reach the engine
  feed->handlers.on_update(numbered("u1", 1, {inline_entry("/u", "5")}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 1; }));
  EXPECT_FALSE(feed->acks[0].ok);
  EXPECT_GE(store->attempts("/u"), 2);  // both tries (a rewrite may already have tried again)
  store->clear_failures();
  ASSERT_TRUE(run_until(ioc, [&] { return store->writes_to("/u").size() == 1; }));
  ASSERT_TRUE(run_until(ioc, [&] { return agent->engine_rewrites() == 1; }));
  EXPECT_EQ(store->writes_to("/u")[0].body, "5");
}

// The fault suite's lost update: the engine restarts empty and a PATCH reaches it before the
// marker check notices; the empty engine refuses it (404), then the rewrite from the backup must
// still apply it, since on the state the agent had built it applies.
TEST_F(data_agent_test, a_patch_refused_by_an_engine_that_lost_its_data_is_rewritten) {
  test::temp_dir dir;
  make(false, with_dir(dir));
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  feed->handlers.on_update(numbered("u1", 1, {inline_entry("/x", R"({"k2":{"v":1}})")}),
                           "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 1; }));

  // The restarted engine refuses the PATCH (its target is gone) before the marker is checked:
  // the marker stays in place until the PATCH has been answered, then the engine is empty.
  store->fail_times("/x", 404, 1);
  model::data_source_entry patch =
      inline_entry("/x", R"([{"op":"add","path":"/k2","value":{"v":2}}])");
  patch.method = model::save_method::patch;
  feed->handlers.on_update(numbered("u2", 2, {patch}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 2; }));
  EXPECT_FALSE(feed->acks[1].ok);  // true when it was answered: the engine refused it
  store->wipe();
  store->clear_writes();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->engine_rewrites() == 1; }));
  const auto rewritten = data_writes();
  ASSERT_EQ(rewritten.size(), 2u);
  EXPECT_EQ(rewritten[0].method + " " + rewritten[0].body, R"(PUT {"k2":{"v":1}})");
  EXPECT_EQ(rewritten[1].method + " " + rewritten[1].body,
            R"(PATCH [{"op":"add","path":"/k2","value":{"v":2}}])");
}

}  // namespace
}  // namespace pdl::agent

namespace pdl::agent {
namespace {

// A write that succeeded is never retried because of the marker: the marker goes before the
// first write (its failure fails only that attempt, before anything was written).
TEST_F(data_agent_test, a_marker_failure_never_makes_a_patch_apply_twice) {
  make(false, [](data_agent_options& o, data_agent_parts&) { o.entry_retry_attempts = 3; });
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  store->fail_times(marker_path, 500, 1);
  model::data_source_entry patch =
      inline_entry("/list", R"([{"op":"add","path":"/-","value":1}])");
  patch.method = model::save_method::patch;
  feed->handlers.on_update(numbered("p1", 1, {patch}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 1; }));
  EXPECT_TRUE(feed->acks[0].ok);
  EXPECT_EQ(store->writes_to("/list").size(), 1u);
  EXPECT_EQ(store->attempts("/list"), 1);  // the marker failed before the PATCH was tried
  EXPECT_EQ(store->attempts(marker_path), 2);
  EXPECT_TRUE(store->get(marker_path).has_value());
}

// A PUT that erases the marker is followed by a marker write; if that fails, the PUT is still
// applied once and acknowledged, and the marker is owed (checked at the next watch tick).
TEST_F(data_agent_test, a_marker_failure_after_a_root_put_does_not_retry_the_put) {
  make(false, [](data_agent_options& o, data_agent_parts&) {
    o.entry_retry_attempts = 3;
    o.marker_interval = 1h;  // only an owed marker makes the watch loop look
  });
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  feed->handlers.on_update(numbered("a", 1, {inline_entry("/a", "1")}), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 1; }));
  const int marker_writes = store->attempts(marker_path);
  store->fail_times(marker_path, 500, 1);
  feed->handlers.on_update(numbered("root", 2, {inline_entry("", R"({"all":true})")}),
                           "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == 2; }));
  EXPECT_TRUE(feed->acks[1].ok);
  EXPECT_EQ(store->attempts(""), 1);
  // The failed marker write, then the watch loop's check (the fake keeps the marker document:
  // found, so no rewrite).
  EXPECT_EQ(store->attempts(marker_path), marker_writes + 1);
  EXPECT_EQ(agent->engine_rewrites(), 0u);
}

TEST_F(data_agent_test, a_full_queue_pauses_the_feed_until_half_of_it_is_applied) {
  make(true, [](data_agent_options& o, data_agent_parts&) { o.queue_bytes = 8 * 1024; });
  test::gate release;
  agent->start();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
  connect();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  store->on_write = [&](const std::string& path) {
    if (path == "/slow") {
      release.wait(std::chrono::milliseconds(20000));
    }
  };
  feed->handlers.on_update(numbered("s", 1, {inline_entry("/slow", "0")}), "policy_data");
  const std::string kb(1000, 'x');
  std::uint64_t seq = 2;
  while (!feed->paused && seq < 100) {
    feed->handlers.on_update(
        numbered("u" + std::to_string(seq), seq, {inline_entry("/slow/" + std::to_string(seq),
                                                              "\"" + kb + "\"")}),
        "policy_data");
    ++seq;
  }
  ASSERT_TRUE(feed->paused);
  EXPECT_EQ(feed->pause_calls, 1);
  EXPECT_LT(seq, 12u);  // ~1.5 KB each against 8 KB
  const auto metrics = agent->metrics_registry().render();
  EXPECT_NE(metrics.find("pdl_agent_feed_paused 1"), std::string::npos);
  EXPECT_NE(metrics.find("pdl_agent_queued_bytes "), std::string::npos);
  release.open();
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() == seq - 1; }));
  EXPECT_FALSE(feed->paused);
  for (const auto& a : feed->acks) {
    EXPECT_TRUE(a.ok) << a.id;
  }
  EXPECT_EQ(data_writes().size(), seq - 1);
  EXPECT_NE(agent->metrics_registry().render().find("pdl_agent_queued_bytes 0"),
            std::string::npos);
}

}  // namespace
}  // namespace pdl::agent
