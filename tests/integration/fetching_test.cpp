// The agent's fetching against real processes: trickling and hanging sources delay only their
// own entries, the age of the oldest pending update shows in /metrics, /status and /healthy.
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/prometheus_text.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

class fetching : public process_fixture {
 protected:
  /** Server, OPA stand-in, two sources and an agent configured by @p fetch_yaml. */
  void start_all(const std::string& fetch_yaml) {
    opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
    source = start_with_port("source", "fake-data-source",
                             {"--addr", "127.0.0.1:0", "--hang", "/hung"});
    other = start_with_port("other", "fake-data-source",
                            {"--addr", "127.0.0.1:0", "--route", R"(/fast={"fast":true})"});
    server = start_with_port("server", "opal-server", {"run"},
                             {{"OPAL_AUTH_MASTER_TOKEN", master},
                              {"OPAL_SERVER_HOST", "127.0.0.1"},
                              {"OPAL_SERVER_BIND_PORT", "0"}});
    auto mint = [&](const std::string& type) { return mint_token(server, master, type); };
    ds_token = mint("datasource");
    const std::string config = dir.file("agent.yaml");
    std::ofstream(config) << "fetch:\n" << fetch_yaml;
    agent = start_with_port("agent", "opal-client", {"run", "--config", config},
                            {{"OPAL_SERVER_URL", url(server)},
                             {"OPAL_CLIENT_TOKEN", mint("client")},
                             {"OPAL_POLICY_STORE_URL", url(opa)},
                             {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
    ASSERT_TRUE(poll_until([&] { return http_call("GET", url(agent) + "/ready").status == 200; },
                           20000ms))
        << procs.logs();
  }

  void publish(const json& entry) {
    json e = entry;
    e["topics"] = {"policy_data"};
    auto r = http_call("POST", url(server) + "/data/config", ds_token,
                       json{{"entries", {e}}, {"reason", "fetching test"}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  json engine(const std::string& path) {
    auto r = http_call("GET", url(opa) + "/v1/data" + path);
    return r.status == 200 ? json::parse(r.body).value("result", json()) : json();
  }

  prom_scrape scrape() { return parse_prometheus_text(http_call("GET", url(agent) + "/metrics").body); }

  const std::string master = "fetching-master-0123456789abcdef";
  std::string ds_token;
  int opa = 0, source = 0, other = 0, server = 0, agent = 0;
};

TEST_F(fetching, eight_trickling_sources_do_not_hold_up_other_updates) {
  start_all("  degraded_after_ms: 1000\n  max_per_host: 8\n");
  // Eight documents of ~40 bytes at one byte per 250 ms: each takes ~10 s and is never idle.
  for (int i = 0; i < 8; ++i) {
    const std::string doc = json{{"n", i}, {"pad", "xxxxxxxxxxxxxxxxxxxxxxxx"}}.dump();
    publish({{"url", url(source) + "/echo?trickle_ms=250&json=" + percent_encode(doc)},
             {"dst_path", "/slow/s" + std::to_string(i)}});
  }
  ASSERT_TRUE(poll_until([&] { return scrape().value("pdl_agent_queue_depth") == 8; }, 20000ms))
      << procs.logs();
  // An update fetched from another source and an inline one land while the eight trickle.
  publish({{"url", url(other) + "/fast"}, {"dst_path", "/fast"}});
  publish({{"url", ""}, {"data", {{"inline", 1}}}, {"dst_path", "/inline"}});
  ASSERT_TRUE(poll_until([&] {
    return engine("/fast") == json{{"fast", true}} && engine("/inline") == json{{"inline", 1}};
  }, 20000ms)) << procs.logs();
  EXPECT_EQ(engine("/slow"), json()) << "the trickling documents cannot be complete yet";
  EXPECT_EQ(scrape().value("pdl_agent_queue_depth"), 8);

  // Past fetch.degraded_after_ms, /healthy says degraded (still 200), with the age.
  ASSERT_TRUE(poll_until([&] {
    auto r = http_call("GET", url(agent) + "/healthy");
    return r.status == 200 && json::parse(r.body).value("status", "") == "degraded";
  }, 20000ms)) << procs.logs();
  const auto healthy = json::parse(http_call("GET", url(agent) + "/healthy").body);
  EXPECT_GE(healthy.value("oldest_pending_update_seconds", 0.0), 1.0) << healthy.dump();
  EXPECT_NE(healthy.value("reason", "").find("pending"), std::string::npos) << healthy.dump();
  EXPECT_GE(scrape().value("pdl_agent_oldest_pending_update_seconds"), 1.0);
  const auto status = json::parse(http_call("GET", url(agent) + "/status").body);
  EXPECT_EQ(status.value("degraded", false), true) << status.dump();

  // The eight finish, and the agent is plainly healthy again.
  ASSERT_TRUE(poll_until([&] { return engine("/slow").size() == 8; }, 60000ms)) << procs.logs();
  EXPECT_EQ(engine("/slow/s3")["n"], 3);
  ASSERT_TRUE(poll_until([&] {
    auto r = http_call("GET", url(agent) + "/healthy");
    return r.status == 200 && json::parse(r.body).value("status", "") == "ok";
  }, 20000ms));
  EXPECT_EQ(scrape().value("pdl_agent_oldest_pending_update_seconds"), 0);
}

TEST_F(fetching, a_hanging_source_times_out_and_the_per_host_limit_queues_the_rest) {
  start_all("  total_timeout_ms: 1500\n  max_per_host: 1\n");
  // Every request for /hung hangs: each attempt ends at the total timeout, then it fails.
  publish({{"url", url(source) + "/hung"}, {"dst_path", "/hung"}});
  // Queued behind it (one connection per host), then fetched once it gave up.
  publish({{"url", url(source) + "/echo?json=" + percent_encode(R"({"q":2})")},
           {"dst_path", "/queued"}});
  publish({{"url", url(other) + "/fast"}, {"dst_path", "/fast"}});
  ASSERT_TRUE(poll_until([&] { return engine("/fast") == json{{"fast", true}}; }, 20000ms))
      << procs.logs();
  ASSERT_TRUE(poll_until([&] { return engine("/queued") == json{{"q", 2}}; }, 20000ms))
      << procs.logs();
  EXPECT_EQ(engine("/hung"), json());
  ASSERT_TRUE(poll_until([&] {
    return scrape().value("pdl_agent_updates_failed_total", {{"reason", "timeout"}}) == 1;
  }, 20000ms)) << procs.logs();
}

}  // namespace
}  // namespace pdl::test
