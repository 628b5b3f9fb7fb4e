#include "server/server_metrics.hpp"

#include <gtest/gtest.h>

#include "server/session_registry.hpp"
#include "tests/support/process.hpp"
#include "tests/support/prometheus_text.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;
using pdl::test::parse_prometheus_text;
using pdl::test::prom_scrape;
using pdl::test::poll_until;

TEST(session_info, lag_follows_subscribe_and_acknowledgements) {
  session_info s;
  s.protocol1 = true;
  EXPECT_FALSE(s.lag(10).has_value());  // not subscribed yet
  s.subscribed(std::nullopt, 7);        // live from seq 7
  EXPECT_EQ(s.lag(10), 3u);
  s.subscribed(std::nullopt, 9);        // another topic: the agent still holds only up to 7
  EXPECT_EQ(s.lag(10), 3u);
  EXPECT_FALSE(s.applied_seq().has_value());
  s.acknowledged(9);
  s.acknowledged(8);  // late, out of order: does not go back
  EXPECT_EQ(s.applied_seq(), 9u);
  EXPECT_EQ(s.lag(10), 1u);
  EXPECT_EQ(s.lag(5), 0u);  // never negative
  s.subscribed(0, 10);      // lost its data: resubscribes from 0
  EXPECT_EQ(s.lag(10), 10u);
  EXPECT_EQ(s.applied_seq(), 9u);

  session_info opal;  // protocol 0: never acknowledges, so no lag
  opal.subscribed(std::nullopt, 1);
  EXPECT_FALSE(opal.lag(10).has_value());
}

/** A log whose appends fail on demand and whose health is settable. */
class switchable_log final : public update_log {
 public:
  std::atomic<bool> failing{false};
  std::uint64_t append(const model::data_update&) override {
    if (failing) {
      throw update_log_error("store unreachable");
    }
    return ++head_;
  }
  std::vector<model::data_update> since(std::uint64_t) const override { return {}; }
  std::uint64_t head() const override { return head_; }
  bool healthy() const override { return !failing; }

 private:
  std::atomic<std::uint64_t> head_{0};
};

class metrics_endpoint : public server_suite {
 protected:
  static std::string raw_scrape() {
    auto r = call(port(), "GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
  static prom_scrape scrape() { return parse_prometheus_text(raw_scrape()); }

  static json publish(const std::string& topic) {
    auto r = call(port(), "POST", "/data/config", *datasource_, good_update({topic}));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

};

TEST_F(metrics_endpoint, answers_without_auth_in_the_text_format_with_every_family_typed) {
  auto r = call(port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.raw.header("content-type").value_or("").find("text/plain; version=0.0.4"),
            std::string::npos);
  prom_scrape m = parse_prometheus_text(r.body);  // throws on any bad line
  // Process metrics come first.
  EXPECT_EQ(r.body.rfind("# HELP process_", 0), 0u) << r.body.substr(0, 200);
  EXPECT_TRUE(m.has("process_cpu_seconds_total"));
  const std::map<std::string, std::string> families = {
      {"pdl_server_updates_accepted_total", "counter"},
      {"pdl_server_updates_refused_total", "counter"},
      {"pdl_server_notifies_total", "counter"},
      {"pdl_server_slow_sessions_closed_total", "counter"},
      {"pdl_server_updates_reported_total", "counter"},
      {"pdl_server_publish_seconds", "histogram"},
      {"pdl_server_connected_agents", "gauge"},
      {"pdl_server_open_connections", "gauge"},
      {"pdl_server_pending_publishes", "gauge"},
      {"pdl_server_connections_refused_total", "counter"},
      {"pdl_server_send_queue_frames", "gauge"},
      {"pdl_server_send_queue_max_frames", "gauge"},
      {"pdl_server_published_seq", "gauge"},
      {"pdl_server_log_healthy", "gauge"}};
  for (const auto& [name, type] : families) {
    ASSERT_TRUE(m.types.count(name)) << name;
    EXPECT_EQ(m.types.at(name), type) << name;
  }
  for (const char* reason :
       {"unauthorized", "forbidden", "malformed", "invalid", "unavailable", "overloaded",
        "source_refused"}) {
    EXPECT_NO_THROW(m.value("pdl_server_updates_refused_total", {{"reason", reason}})) << reason;
  }
  EXPECT_EQ(m.value("pdl_server_log_healthy"), 1);
  EXPECT_GE(m.value("pdl_server_open_connections"), 1);  // this scrape's own connection
  // The route is in the table (and so in /openapi.json).
  EXPECT_TRUE(call(port(), "GET", "/openapi.json").json()["paths"]["/metrics"].contains("get"));
}

TEST_F(metrics_endpoint, a_publish_moves_accepted_live_notifies_latency_and_published_seq) {
  ws_client agent(port(), *client_, ws_client::protocol1("metrics-agent-1"));
  ASSERT_TRUE(agent.subscribe({"m_pub"}));
  prom_scrape before = scrape();
  json accepted = publish("m_pub");
  ASSERT_EQ(agent.read_notify()["id"], accepted["id"]);
  prom_scrape after = scrape();
  EXPECT_EQ(after.value("pdl_server_updates_accepted_total") -
                before.value("pdl_server_updates_accepted_total"),
            1);
  EXPECT_EQ(after.value("pdl_server_notifies_total", {{"kind", "live"}}) -
                before.value("pdl_server_notifies_total", {{"kind", "live"}}),
            1);
  EXPECT_EQ(after.value("pdl_server_notifies_total", {{"kind", "replay"}}),
            before.value("pdl_server_notifies_total", {{"kind", "replay"}}));
  EXPECT_EQ(after.value("pdl_server_publish_seconds_count") -
                before.value("pdl_server_publish_seconds_count"),
            1);
  EXPECT_EQ(after.value("pdl_server_publish_seconds_bucket", {{"le", "+Inf"}}),
            after.value("pdl_server_publish_seconds_count"));
  EXPECT_GT(after.value("pdl_server_publish_seconds_sum"),
            before.value("pdl_server_publish_seconds_sum"));
  EXPECT_EQ(after.value("pdl_server_published_seq"), accepted["seq"].get<double>());
}

TEST_F(metrics_endpoint, refusals_are_counted_by_reason) {
  auto refused = [](const prom_scrape& m, const char* reason) {
    return m.value("pdl_server_updates_refused_total", {{"reason", reason}});
  };
  prom_scrape before = scrape();
  EXPECT_EQ(call(port(), "POST", "/data/config", "", good_update()).status, 401);
  EXPECT_EQ(call(port(), "POST", "/data/config", *client_, good_update()).status, 403);
  EXPECT_EQ(call(port(), "POST", "/data/config", *datasource_, "{\"entries\": [").status, 400);
  EXPECT_EQ(call(port(), "POST", "/data/config", *datasource_, R"({"entries": []})").status, 422);
  {
    // A WebSocket publish from a client token is refused as forbidden too.
    ws_client c(port(), *client_);
    json args = {{"topics", {"m_ref"}}, {"data", json::parse(good_update({"m_ref"}))}};
    EXPECT_EQ(c.expect_response(c.call("publish", args.dump())).result_json, "false");
  }
  prom_scrape after = scrape();
  EXPECT_EQ(refused(after, "unauthorized") - refused(before, "unauthorized"), 1);
  EXPECT_EQ(refused(after, "forbidden") - refused(before, "forbidden"), 2);
  EXPECT_EQ(refused(after, "malformed") - refused(before, "malformed"), 1);
  EXPECT_EQ(refused(after, "invalid") - refused(before, "invalid"), 1);
  EXPECT_EQ(refused(after, "unavailable"), refused(before, "unavailable"));
  EXPECT_EQ(after.value("pdl_server_updates_accepted_total"),
            before.value("pdl_server_updates_accepted_total"));
}

TEST_F(metrics_endpoint, acknowledgements_move_reports_applied_seq_and_lag) {
  ws_client agent(port(), *client_, ws_client::protocol1("metrics-agent-ack"));
  ASSERT_TRUE(agent.subscribe({"m_ack"}));
  ws_client opal(port(), *client_, {});  // protocol 0: never a per-agent series
  ASSERT_TRUE(opal.subscribe({"m_ack"}));
  std::string opal_id =
      json::parse(opal.expect_response(opal.call("_get_channel_id_", "{}")).result_json);
  const std::map<std::string, std::string> me = {{"agent", "metrics-agent-ack"}};

  prom_scrape start = scrape();
  EXPECT_EQ(start.value("pdl_server_agent_lag", me), 0);
  EXPECT_THROW(start.value("pdl_server_agent_applied_seq", me), std::out_of_range);

  json first = publish("m_ack");
  ASSERT_EQ(agent.read_notify()["id"], first["id"]);
  ASSERT_EQ(opal.read_notify()["id"], first["id"]);
  prom_scrape behind = scrape();
  EXPECT_EQ(behind.value("pdl_server_agent_lag", me), 1);

  json applied = {{"id", first["id"]}, {"seq", first["seq"]}, {"ok", true}};
  EXPECT_EQ(agent.expect_response(agent.call("pdl_applied", applied.dump())).result_json, "true");
  prom_scrape acked = scrape();
  EXPECT_EQ(acked.value("pdl_server_agent_applied_seq", me), first["seq"].get<double>());
  EXPECT_EQ(acked.value("pdl_server_agent_lag", me), 0);
  EXPECT_EQ(acked.value("pdl_server_updates_reported_total", {{"result", "applied"}}) -
                start.value("pdl_server_updates_reported_total", {{"result", "applied"}}),
            1);
  for (const auto& s : acked.samples) {
    if (s.labels.count("agent") != 0) {
      EXPECT_NE(s.labels.at("agent"), opal_id);
    }
  }

  json second = publish("m_ack");
  ASSERT_EQ(agent.read_notify()["id"], second["id"]);
  json failed = {{"id", second["id"]}, {"ok", false}, {"errors", {"/tests/x: OPA said 400"}}};
  EXPECT_EQ(agent.expect_response(agent.call("pdl_applied", failed.dump())).result_json, "true");
  // An OPAL client's report comes over HTTP.
  json report = {{"update_id", second["id"]},
                 {"reports", {{{"fetched", true}, {"saved", true}, {"entry", json::object()}}}}};
  EXPECT_EQ(call(port(), "POST", "/data/callback_report", *client_, report.dump()).status, 200);
  prom_scrape end = scrape();
  // Without a seq in the acknowledgement the server looks the id up.
  EXPECT_EQ(end.value("pdl_server_agent_applied_seq", me), second["seq"].get<double>());
  EXPECT_EQ(end.value("pdl_server_agent_lag", me), 0);
  EXPECT_EQ(end.value("pdl_server_updates_reported_total", {{"result", "failed"}}) -
                start.value("pdl_server_updates_reported_total", {{"result", "failed"}}),
            1);
  EXPECT_EQ(end.value("pdl_server_updates_reported_total", {{"result", "applied"}}) -
                start.value("pdl_server_updates_reported_total", {{"result", "applied"}}),
            2);
}

TEST_F(metrics_endpoint, sessions_are_counted_while_connected_and_replay_notifies_by_kind) {
  publish("m_replay");
  publish("m_replay");
  prom_scrape before = scrape();
  const double agents = before.value("pdl_server_connected_agents");
  {
    ws_client agent(port(), *client_, ws_client::protocol1("metrics-agent-replay"));
    ASSERT_TRUE(poll_until(
        [&] { return scrape().value("pdl_server_connected_agents") == agents + 1; }, 5s));
    EXPECT_EQ(agent.subscribe_after({"m_replay"}, 0), "true");
    agent.read_notify();
    agent.read_notify();
    prom_scrape during = scrape();
    EXPECT_EQ(during.value("pdl_server_notifies_total", {{"kind", "replay"}}) -
                  before.value("pdl_server_notifies_total", {{"kind", "replay"}}),
              2);
    EXPECT_GE(during.value("pdl_server_open_connections"), 2);  // the session and the scrape
    EXPECT_GE(during.value("pdl_server_send_queue_frames"), 0);
    EXPECT_GE(during.value("pdl_server_send_queue_max_frames"), 0);
    EXPECT_LE(during.value("pdl_server_send_queue_max_frames"),
              during.value("pdl_server_send_queue_frames"));
    // Subscribed after 0 and acknowledged nothing: everything published is outstanding.
    EXPECT_EQ(during.value("pdl_server_agent_lag", {{"agent", "metrics-agent-replay"}}),
              during.value("pdl_server_published_seq"));
  }
  EXPECT_TRUE(
      poll_until([&] { return scrape().value("pdl_server_connected_agents") == agents; }, 5s));
  EXPECT_EQ(raw_scrape().find("metrics-agent-replay"), std::string::npos);  // gone with it
}

TEST_F(metrics_endpoint, no_secret_in_the_scrape) {
  ws_client agent(port(), *client_, ws_client::protocol1("metrics-agent-secret"));
  ASSERT_TRUE(agent.subscribe({"m_secret"}));
  publish("m_secret");
  agent.read_notify();
  std::string body = raw_scrape();
  EXPECT_EQ(body.find(master_token), std::string::npos);
  EXPECT_EQ(body.find(*client_), std::string::npos);
  EXPECT_EQ(body.find(*datasource_), std::string::npos);
  EXPECT_EQ(body.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(body.find("Bearer"), std::string::npos);
  EXPECT_NE(body.find("metrics-agent-secret"), std::string::npos);  // the agent id is a label
}

TEST(metrics_log, an_unavailable_log_is_counted_and_reported_unhealthy) {
  pem_pair keys = make_pem_pair();
  auto log = std::make_unique<switchable_log>();
  switchable_log* raw = log.get();
  auto srv = server::start(test_config(keys), std::move(log));
  std::string datasource = mint(srv->port(), "datasource");
  auto scrape = [&] {
    return parse_prometheus_text(call(srv->port(), "GET", "/metrics").body);
  };
  prom_scrape before = scrape();
  EXPECT_EQ(before.value("pdl_server_log_healthy"), 1);
  raw->failing = true;
  EXPECT_EQ(call(srv->port(), "POST", "/data/config", datasource, good_update()).status, 503);
  prom_scrape after = scrape();
  EXPECT_EQ(after.value("pdl_server_log_healthy"), 0);
  EXPECT_EQ(after.value("pdl_server_updates_refused_total", {{"reason", "unavailable"}}) -
                before.value("pdl_server_updates_refused_total", {{"reason", "unavailable"}}),
            1);
}

}  // namespace
}  // namespace pdl::server
