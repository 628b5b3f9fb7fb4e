// /metrics on both binaries and /statistics on the server, scraped from real processes: every
// line parses as the Prometheus text format, the figures follow what happened, nothing secret.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/prometheus_text.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

class observability : public process_fixture {
 protected:
  prom_scrape scrape(int port) {
    auto r = http_call("GET", url(port) + "/metrics");
    EXPECT_EQ(r.status, 200);
    last_text = r.body;
    return parse_prometheus_text(r.body);  // throws on the first malformed line
  }
  std::string last_text;
};

TEST_F(observability, both_binaries_expose_metrics_that_follow_the_updates_and_statistics_show_the_agent) {
  const std::string master = "observability-master-0123456789abcdef";
  const std::string header_secret = "obs-SECRET-header-value";
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"}, {});
  const int source = start_with_port(
      "source", "fake-data-source",
      {"--addr", "127.0.0.1:0", "--require-header", "x-key: " + header_secret, "--route",
       R"(/d={"v":1})"},
      {});
  const int server = start_with_port("server", "opal-server", {"run"},
                                     {{"OPAL_AUTH_MASTER_TOKEN", master},
                                      {"OPAL_SERVER_HOST", "127.0.0.1"},
                                      {"OPAL_SERVER_BIND_PORT", "0"}});
  auto mint = [&](const std::string& type) { return mint_token(server, master, type); };
  const std::string client_token = mint("client");
  const std::string ds_token = mint("datasource");
  const std::string listener_token = mint("listener");
  const int agent = start_with_port("agent", "opal-client", {"run"},
                                    {{"OPAL_SERVER_URL", url(server)},
                                     {"OPAL_CLIENT_TOKEN", client_token},
                                     {"OPAL_DATA_TOPICS", "users"},
                                     {"OPAL_POLICY_STORE_URL", url(opa)},
                                     {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
  ASSERT_TRUE(poll_until([&] { return scrape(agent).value("pdl_agent_connected") == 1; }))
      << last_text;

  // One fetched update that lands, one whose source refuses (no header), one refused by the server.
  auto update = [&](const std::string& path, bool with_header) {
    json e = {{"url", url(source) + path + "?q=query-SECRET"},
              {"topics", {"users"}},
              {"dst_path", "/d" + path}};
    if (with_header) e["config"] = {{"headers", {{"x-key", header_secret}}}};
    return json{{"entries", {e}}}.dump();
  };
  ASSERT_EQ(http_call("POST", url(server) + "/data/config", ds_token, update("/d", true)).status, 200);
  ASSERT_EQ(http_call("POST", url(server) + "/data/config", ds_token, update("/d", false)).status, 200);
  ASSERT_EQ(http_call("POST", url(server) + "/data/config", client_token, update("/d", true)).status, 403);

  ASSERT_TRUE(poll_until([&] {
    auto a = scrape(agent);
    return a.value("pdl_agent_updates_applied_total") == 1 &&
           a.value("pdl_agent_updates_failed_total", {{"reason", "source_status"}}) == 1;
  }, 20000ms)) << last_text;
  const auto a = scrape(agent);
  const std::string agent_text = last_text;
  EXPECT_EQ(a.value("pdl_agent_updates_received_total"), 2);
  EXPECT_EQ(a.value("pdl_agent_applied_seq"), 2);
  EXPECT_EQ(a.value("pdl_agent_server_seq"), 2);
  EXPECT_GE(a.value("pdl_agent_apply_seconds_count"), 1);
  EXPECT_GE(a.value("pdl_agent_fetch_seconds_count"), 2);
  EXPECT_GT(a.value("pdl_agent_fetched_bytes_total"), 0);
  EXPECT_GT(a.value("pdl_agent_source_last_success_timestamp_seconds"), 1.7e9);
  EXPECT_EQ(a.value("pdl_agent_ready"), 1);
  EXPECT_GT(a.value("process_resident_memory_bytes"), 1e6);

  ASSERT_TRUE(poll_until([&] {
    return scrape(server).value("pdl_server_agent_lag") == 0;  // the agent acked seq 2
  })) << last_text;
  const auto s = scrape(server);
  const std::string server_text = last_text;
  EXPECT_EQ(s.value("pdl_server_updates_accepted_total"), 2);
  EXPECT_EQ(s.value("pdl_server_updates_refused_total", {{"reason", "forbidden"}}), 1);
  EXPECT_EQ(s.value("pdl_server_connected_agents"), 1);
  EXPECT_EQ(s.value("pdl_server_published_seq"), 2);
  EXPECT_EQ(s.value("pdl_server_notifies_total", {{"kind", "live"}}) +
                s.value("pdl_server_notifies_total", {{"kind", "replay"}}),
            2);
  EXPECT_EQ(s.value("pdl_server_updates_reported_total", {{"result", "applied"}}), 1);
  EXPECT_EQ(s.value("pdl_server_updates_reported_total", {{"result", "failed"}}), 1);

  // /statistics: listener token yes, client token no; the agent with its topics and lag.
  EXPECT_EQ(http_call("GET", url(server) + "/statistics", client_token).status, 403);
  auto st = http_call("GET", url(server) + "/statistics", listener_token);
  ASSERT_EQ(st.status, 200) << st.body;
  const auto stats = json::parse(st.body);
  ASSERT_EQ(stats["clients"].size(), 1u) << st.body;
  const auto& conn = stats["clients"].begin().value()[0];
  EXPECT_EQ(conn["topics"], json::array({"users"}));
  EXPECT_EQ(conn["applied_seq"], 2);
  EXPECT_EQ(conn["lag"], 0);
  EXPECT_EQ(conn["protocol"], 1);
  EXPECT_EQ(stats["publishes_by_topic"]["users"], 2);

  for (const std::string* text : {&agent_text, &server_text, static_cast<const std::string*>(&st.body)}) {
    for (const auto& secret_value : {master, client_token, ds_token, listener_token, header_secret,
                                     std::string("query-SECRET")}) {
      EXPECT_EQ(text->find(secret_value), std::string::npos) << *text;
    }
  }
}

}  // namespace
}  // namespace pdl::test
