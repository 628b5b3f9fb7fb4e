#include "agent/agent_metrics.hpp"

#include <gtest/gtest.h>

#include <future>
#include <set>

#include "agent/api_server.hpp"
#include "agent/data_agent.hpp"
#include "shared/http/client.hpp"
#include "shared/net.hpp"
#include "tests/support/prometheus_text.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

constexpr const char* source_url =
    "http://reader:userpass@src.example:8080/data/users?token=querysecret&x=1";
constexpr const char* source_label_text = "http://src.example:8080/data/users";
constexpr const char* header_secret = "Bearer headersecret";

/** fake_fetcher, plus URLs that fail as a timeout or a transport error would. */
class scripted_fetcher final : public test::blocking_fetcher {
 public:
  explicit scripted_fetcher(test::fake_fetcher& inner) : inner_(inner) {}
  fetched_body fetch_now(const model::data_source_entry& e) override {
    if (e.url.find("/slow") != std::string::npos) {
      throw fetch_error("fetching http://src.example/slow failed: timed out", false, 0, true);
    }
    if (e.url.find("/down") != std::string::npos) {
      throw fetch_error("fetching http://src.example/down failed: connection refused", false);
    }
    return inner_.fetch_now(e);
  }

 private:
  test::fake_fetcher& inner_;
};

model::data_source_entry inline_entry(std::string path, std::string data) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.data_json = std::move(data);
  e.topics = {"policy_data"};
  return e;
}

model::data_source_entry url_entry(std::string path, std::string url) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.url = std::move(url);
  e.config_json = std::string(R"({"headers":{"Authorization":")") + header_secret + R"("}})";
  e.topics = {"policy_data"};
  return e;
}

model::data_update notify(std::string id, std::uint64_t seq, model::data_source_entry e) {
  model::data_update u;
  u.id = std::move(id);
  u.seq = seq;
  u.entries.push_back(std::move(e));
  return u;
}

struct scrape_result {
  long status = 0;
  std::string content_type;
  std::string body;
};

class agent_metrics_test : public ::testing::Test {
 protected:
  void make(bool with_reporter) {
    auto feed_p = std::make_unique<test::fake_feed>();
    feed = feed_p.get();
    auto store_p = std::make_unique<test::fake_store>();
    store = store_p.get();
    store->on_write = store_hook;
    data_agent_parts parts;
    parts.feed = std::move(feed_p);
    parts.fetcher = std::make_unique<scripted_fetcher>(fetcher);
    parts.store = std::move(store_p);
    parts.load_base = [this](std::size_t) { return base_entries; };
    if (with_reporter) {
      reporter_options ro;
      ro.default_callbacks = {"http://server.example/data/callback_report"};
      ro.token = secret("clienttokensecret");
      parts.reporter = std::make_unique<update_reporter>(
          ioc, pool, ro, [](const http_client::request&, std::string&) { return 200L; });
    }
    data_agent_options o;
    o.retry_min = 5ms;
    o.retry_max = 50ms;
    o.probe_interval = 20ms;
    o.marker_interval = 20ms;
    o.seed = 7;
    api_options api;
    api.port = 0;
    o.api = api;
    agent = std::make_unique<data_agent>(ioc, pool, o, std::move(parts));
    agent->start();
    ASSERT_TRUE(run_until(ioc, [&] { return feed->started; }));
    feed->handlers.on_connected(feed_connection_info{"ws://s:7002/ws", 0, true});
    ASSERT_TRUE(run_until(ioc, [&] { return agent->state().ready(); }));
  }

  /** Delivers @p u and runs until it was acknowledged (processed). */
  void deliver(model::data_update u) {
    const auto before = feed->acks.size();
    feed->handlers.on_update(std::move(u), "policy_data");
    ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() > before; }));
  }

  scrape_result scrape() {
    auto fut = std::async(std::launch::async, [port = agent->api_port()] {
      http_client::request req;
      req.url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
      auto r = http_client::perform(req);
      scrape_result out;
      if (const auto* resp = std::get_if<http_client::response>(&r)) {
        out.status = resp->status;
        out.content_type = resp->header("content-type").value_or("");
        out.body = resp->body;
      }
      return out;
    });
    run_until(ioc, [&] { return fut.wait_for(0s) == std::future_status::ready; });
    return fut.get();
  }

  /** Scrapes and parses (every line must parse). */
  pdl::test::prom_scrape scrape_metrics() {
    const auto r = scrape();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, metrics::content_type);
    last_text = r.body;
    return pdl::test::parse_prometheus_text(r.body);
  }

  void TearDown() override {
    if (agent) {
      agent->stop();
      ioc.restart();
      ioc.run_for(5s);
      EXPECT_TRUE(ioc.stopped());
    }
    pool.join();
  }

  net::io_context ioc;
  net::thread_pool pool{2};
  test::fake_fetcher fetcher;
  test::fake_feed* feed = nullptr;
  test::fake_store* store = nullptr;
  std::vector<model::data_source_entry> base_entries{inline_entry("/static", R"({"seed":true})")};
  std::unique_ptr<data_agent> agent;
  std::function<void(const std::string&)> store_hook;  // fake_store::on_write
  std::string last_text;
};

TEST_F(agent_metrics_test, counts_applied_and_failed_updates_by_reason) {
  fetcher.set(source_url, R"({"a":1})");  // 7 bytes
  fetcher.set("http://src.example/bad", "{not json");
  make(true);
  const auto m0 = scrape_metrics();
  EXPECT_EQ(m0.value("pdl_agent_updates_received_total"), 0);
  EXPECT_EQ(m0.value("pdl_agent_written_bytes_total"), 13);  // the base entry
  EXPECT_GT(m0.value("pdl_agent_source_last_success_timestamp_seconds", {{"source", "inline"}}),
            0);

  deliver(notify("u1", 1, url_entry("/users", source_url)));
  deliver(notify("u2", 2, url_entry("/missing", "http://src.example/missing?k=querysecret")));
  store->fail_path("/refused", 400);
  deliver(notify("u3", 3, inline_entry("/refused", "{}")));
  deliver(notify("u4", 4, url_entry("/bad", "http://src.example/bad")));
  deliver(notify("u5", 5, url_entry("/slow", "http://src.example/slow")));
  deliver(notify("u6", 7, url_entry("/down", "http://src.example/down")));
  deliver(notify("u7", 8, inline_entry("/root_array", "[1]")));
  feed->handlers.on_update(notify("u1", 1, url_entry("/users", source_url)), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return feed->acks.size() >= 8; }));

  const auto m = scrape_metrics();
  EXPECT_EQ(m.value("pdl_agent_updates_received_total"), 8);
  EXPECT_EQ(m.value("pdl_agent_updates_applied_total"), 2);  // u1 and u7; the repeat is skipped
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "source_status"}}), 1);
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "store_refused"}}), 1);
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "invalid_payload"}}), 1);
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "timeout"}}), 1);
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "fetch"}}), 1);
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "store"}}), 0);
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "other"}}), 0);
  EXPECT_EQ(m.value("pdl_agent_apply_seconds_count"), 2);
  EXPECT_EQ(m.value("pdl_agent_apply_seconds_bucket", {{"le", "+Inf"}}), 2);
  EXPECT_EQ(m.value("pdl_agent_fetch_seconds_count"), 5);  // users, missing, bad, slow, down
  EXPECT_EQ(m.value("pdl_agent_fetched_bytes_total"), 7);
  EXPECT_EQ(m.value("pdl_agent_written_bytes_total"), 13 + 7 + 3);
  EXPECT_EQ(m.value("pdl_agent_queue_depth"), 0);
  EXPECT_TRUE(m.has("pdl_agent_report_queue_depth"));
  EXPECT_EQ(m.value("pdl_agent_connected"), 1);
  EXPECT_EQ(m.value("pdl_agent_reconnects_total"), 0);
  EXPECT_EQ(m.value("pdl_agent_server_seq"), 8);
  EXPECT_EQ(m.value("pdl_agent_applied_seq"), 8);
  EXPECT_EQ(m.value("pdl_agent_ready"), 1);
  EXPECT_EQ(m.value("pdl_agent_store_healthy"), 0);  // the write to /refused is failing
  EXPECT_EQ(m.value("pdl_agent_engine_rebuilds_total"), 0);

  EXPECT_GT(m.value("pdl_agent_source_last_success_timestamp_seconds",
                    {{"source", source_label_text}}),
            1.6e9);
  EXPECT_EQ(m.value("pdl_agent_source_failures_total",
                    {{"source", "http://src.example/missing"}, {"reason", "source_status"}}),
            1);
  EXPECT_EQ(m.value("pdl_agent_source_failures_total",
                    {{"source", "inline"}, {"reason", "store_refused"}}),
            1);
  EXPECT_GT(m.value("pdl_agent_source_last_error_timestamp_seconds",
                    {{"source", "http://src.example/slow"}}),
            1.6e9);
  EXPECT_THROW(m.value("pdl_agent_source_last_error_timestamp_seconds",
                       {{"source", source_label_text}}),
               std::out_of_range);

  EXPECT_EQ(m.types.at("pdl_agent_apply_seconds"), "histogram");
  EXPECT_EQ(m.types.at("pdl_agent_updates_failed_total"), "counter");
  EXPECT_EQ(m.types.at("pdl_agent_queue_depth"), "gauge");
  EXPECT_TRUE(m.has("process_resident_memory_bytes"));

  for (const char* secret_text : {"querysecret", "headersecret", "userpass", "reader",
                                  "clienttokensecret", "Authorization"}) {
    EXPECT_EQ(last_text.find(secret_text), std::string::npos) << secret_text;
  }
}

TEST_F(agent_metrics_test, tracks_the_connection_and_the_server_seq) {
  test::gate release;
  store_hook = [&](const std::string& path) {
    if (path == "/b") {
      release.wait();
    }
  };
  make(false);
  deliver(notify("a", 3, inline_entry("/a", "1")));
  feed->handlers.on_disconnected("connection lost");
  auto m = scrape_metrics();
  EXPECT_EQ(m.value("pdl_agent_connected"), 0);
  EXPECT_FALSE(m.has("pdl_agent_report_queue_depth"));

  // Resumed (our server, base loaded): the notify is submitted at once; while its write blocks,
  // the server's seq is ahead of the applied one.
  feed->handlers.on_connected(feed_connection_info{"ws://s:7002/ws", 0, true});
  feed->handlers.on_update(notify("b", 9, inline_entry("/b", "2")), "policy_data");
  ASSERT_TRUE(run_until(ioc, [&] { return agent->data_updater().running() == 1; }));
  m = scrape_metrics();
  EXPECT_EQ(m.value("pdl_agent_connected"), 1);
  EXPECT_EQ(m.value("pdl_agent_reconnects_total"), 1);
  EXPECT_EQ(m.value("pdl_agent_server_seq"), 9);
  EXPECT_EQ(m.value("pdl_agent_applied_seq"), 3);
  EXPECT_EQ(m.value("pdl_agent_queue_depth"), 1);
  release.open();
  ASSERT_TRUE(
      run_until(ioc, [&] { return agent->data_updater().idle() && feed->acks.size() >= 2; }));
  m = scrape_metrics();
  EXPECT_EQ(m.value("pdl_agent_applied_seq"), 9);
  EXPECT_EQ(m.value("pdl_agent_queue_depth"), 0);
}

TEST_F(agent_metrics_test, an_unreachable_engine_counts_a_store_failure_and_a_rebuild) {
  make(false);
  EXPECT_EQ(scrape_metrics().value("pdl_agent_store_healthy"), 1);
  store->fail_path("/x", 0);  // the write does not reach the engine
  deliver(notify("x", 1, inline_entry("/x", "1")));
  store->clear_failures();
  ASSERT_TRUE(run_until(ioc, [&] { return agent->engine_rewrites() >= 1; }));
  const auto m = scrape_metrics();
  EXPECT_EQ(m.value("pdl_agent_updates_failed_total", {{"reason", "store"}}), 1);
  EXPECT_EQ(m.value("pdl_agent_engine_rebuilds_total"),
            static_cast<double>(agent->engine_rewrites()));
}

/** One request to an api_server run on this thread's io_context. */
http_client::response api_call(net::io_context& ioc, const api_server& server,
                               const std::string& method, const std::string& path) {
  http_client::request req;
  req.method = method;
  req.url = "http://127.0.0.1:" + std::to_string(server.port()) + path;
  auto fut = std::async(std::launch::async, [req] { return http_client::perform(req); });
  run_until(ioc, [&] { return fut.wait_for(0s) == std::future_status::ready; });
  auto result = fut.get();
  const auto* r = std::get_if<http_client::response>(&result);
  return r ? *r : http_client::response{};
}

TEST(agent_api_metrics, metrics_route_serves_the_registry_and_only_with_one) {
  net::io_context ioc;
  agent_state state;
  metrics::registry reg;
  reg.add([](metrics::writer& w) { w.counter("pdl_agent_test_total", "A test counter.", 3); });
  api_options o;
  o.port = 0;
  auto with = api_server::create(ioc, o, state, &reg);
  auto without = api_server::create(ioc, o, state);
  with->start();
  without->start();
  const auto ok = api_call(ioc, *with, "GET", "/metrics");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.header("content-type").value_or(""), metrics::content_type);
  EXPECT_EQ(pdl::test::parse_prometheus_text(ok.body).value("pdl_agent_test_total"), 3);
  EXPECT_EQ(api_call(ioc, *with, "POST", "/metrics").status, 405);
  EXPECT_EQ(api_call(ioc, *without, "GET", "/metrics").status, 404);
  with->stop();
  without->stop();
  ioc.restart();
  ioc.run_for(2s);
}

TEST(agent_metrics, source_labels_drop_query_and_userinfo) {
  EXPECT_EQ(source_label(url_entry("/p", source_url)), source_label_text);
  EXPECT_EQ(source_label(url_entry("/p", "https://h/x#frag")), "https://h/x");
  EXPECT_EQ(source_label(inline_entry("/p", "1")), "inline");
  // A blob's URL names its hash, new with every publish: one bounded label for all of them.
  auto blob = url_entry("/p", "https://server/data/blobs/" + std::string(64, 'a') + "?sig=1");
  blob.blob = model::blob_ref{std::string(64, 'a'), 2};
  EXPECT_EQ(source_label(blob), "blob");
  EXPECT_EQ(source_label(url_entry("/p", "http://h/a\nb\"c")), "http://h/a?b\"c");
  EXPECT_EQ(source_label(url_entry("/p", "http://h/" + std::string(1000, 'a'))).size(), 256u);
}

TEST(agent_metrics, distinct_sources_are_capped_then_share_other) {
  agent_metrics am;
  for (int i = 0; i < 150; ++i) {
    am.source_failure("http://h/" + std::to_string(i), failure_reason::fetch);
  }
  am.source_success("http://h/0");
  am.source_success("http://h/149");
  metrics::writer w;
  am.write(w, agent_gauges{});
  const auto m = pdl::test::parse_prometheus_text(w.take());
  std::set<std::string> sources;
  for (const auto& s : m.samples) {
    if (s.name == "pdl_agent_source_failures_total") {
      sources.insert(s.labels.at("source"));
    }
  }
  EXPECT_EQ(sources.size(), agent_metrics::max_sources + 1);
  EXPECT_EQ(m.value("pdl_agent_source_failures_total", {{"source", "other"}, {"reason", "fetch"}}),
            50);
  EXPECT_EQ(m.value("pdl_agent_source_failures_total", {{"source", "http://h/0"}}), 1);
  EXPECT_GT(m.value("pdl_agent_source_last_success_timestamp_seconds", {{"source", "other"}}), 0);
}

TEST(agent_metrics, reason_labels_are_the_fixed_set) {
  std::set<std::string> names;
  for (auto r : {failure_reason::fetch, failure_reason::source_status,
                 failure_reason::invalid_payload, failure_reason::store,
                 failure_reason::store_refused, failure_reason::timeout,
                 failure_reason::source_refused, failure_reason::secret_missing,
                 failure_reason::blob_mismatch, failure_reason::other}) {
    names.insert(to_string(r));
  }
  EXPECT_EQ(names, (std::set<std::string>{"fetch", "source_status", "invalid_payload", "store",
                                          "store_refused", "timeout", "source_refused",
                                          "secret_missing", "blob_mismatch", "other"}));
  EXPECT_EQ(names.size(), failure_reason_count);
}

}  // namespace
}  // namespace pdl::agent
