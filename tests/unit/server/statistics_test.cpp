#include "server/statistics.hpp"

#include <gtest/gtest.h>

#include "server/topic_counts.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;
using pdl::test::poll_until;

TEST(topic_counts, counts_distinct_topics_per_update_and_bounds_the_names) {
  topic_counts c;
  c.add({"a", "a", "b"});
  c.add({"a"});
  auto m = c.snapshot();
  EXPECT_EQ(m.at("a"), 2u);
  EXPECT_EQ(m.at("b"), 1u);
  EXPECT_EQ(m.count(topic_counts::other_bucket), 0u);
  for (std::size_t i = 0; i < topic_counts::max_topics + 5; ++i) {
    c.add({"t" + std::to_string(i)});
  }
  m = c.snapshot();
  EXPECT_EQ(m.size(), topic_counts::max_topics + 1);
  EXPECT_EQ(m.at(topic_counts::other_bucket), 7u);  // 1000 names kept, 2 already were a and b
  EXPECT_EQ(m.at("a"), 2u);
}

TEST(iso8601_utc, formats_utc_with_a_z) {
  EXPECT_EQ(iso8601_utc(std::chrono::system_clock::time_point(std::chrono::seconds(1795860000))),
            "2026-11-28T10:00:00Z");
}

class statistics_endpoint : public server_suite {
 protected:
  static json stats(const std::string& path = "/statistics") {
    auto r = call(port(), "GET", path, *listener_);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  static json publish(const std::string& topic) {
    auto r = call(port(), "POST", "/data/config", *datasource_, good_update({topic}));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

};

TEST_F(statistics_endpoint, only_the_master_token_and_listener_tokens_may_read) {
  for (const char* path : {"/statistics", "/stats"}) {
    auto none = call(port(), "GET", path);
    EXPECT_EQ(none.status, 401) << path;
    EXPECT_EQ(none.raw.header("www-authenticate").value_or(""), "Bearer");
    EXPECT_TRUE(none.json()["detail"].contains("error"));
    EXPECT_EQ(call(port(), "GET", path, "not-a-token").status, 401) << path;
    auto client = call(port(), "GET", path, *client_);
    EXPECT_EQ(client.status, 403) << path;
    EXPECT_NE(client.json()["detail"]["error"].get<std::string>().find("listener"),
              std::string::npos);
    EXPECT_EQ(call(port(), "GET", path, *datasource_).status, 403) << path;
    EXPECT_EQ(call(port(), "GET", path, master_token).status, 200) << path;
    EXPECT_EQ(call(port(), "GET", path, *listener_).status, 200) << path;
  }
  json doc = call(port(), "GET", "/openapi.json").json();
  EXPECT_TRUE(doc["paths"]["/statistics"]["get"].contains("security"));
  EXPECT_TRUE(doc["paths"]["/stats"]["get"].contains("security"));
}

TEST_F(statistics_endpoint, shows_opal_keys_and_ours) {
  json accepted = publish("st_keys");
  json s = stats();
  EXPECT_EQ(s["uptime"].get<std::string>().back(), 'Z');
  EXPECT_EQ(s["uptime"].get<std::string>().size(), 20u);
  EXPECT_FALSE(s["version"].get<std::string>().empty());
  ASSERT_EQ(s["servers"].size(), 1u);
  EXPECT_EQ(s["servers"][0], s_->ctx().server_id);
  EXPECT_TRUE(s["clients"].is_object());
  EXPECT_GE(s["published_seq"].get<std::uint64_t>(), accepted["seq"].get<std::uint64_t>());
  EXPECT_EQ(s["log_id"], s_->ctx().updates->log_id());
  EXPECT_FALSE(s["log_id"].get<std::string>().empty());
  EXPECT_EQ(s["publishes_by_topic"]["st_keys"], 1);
  EXPECT_GE(s["updates"]["accepted"].get<int>(), 1);
  EXPECT_TRUE(s["updates"]["refused"].is_number_unsigned());
  // A refusal shows in updates.refused.
  EXPECT_EQ(call(port(), "POST", "/data/config", *client_, good_update({"st_keys"})).status, 403);
  json later = stats();
  EXPECT_EQ(later["updates"]["refused"].get<int>() - s["updates"]["refused"].get<int>(), 1);
  EXPECT_EQ(later["publishes_by_topic"]["st_keys"], 1);
}

TEST_F(statistics_endpoint, a_connected_agent_with_topics_address_applied_seq_and_lag) {
  ws_client agent(port(), *client_, ws_client::protocol1("stats-agent-1"));
  ASSERT_TRUE(agent.subscribe({"st_b", "st_a"}));
  const auto local = agent.stream().next_layer().local_endpoint();
  const std::string address = "127.0.0.1:" + std::to_string(local.port());

  json s = stats();
  ASSERT_TRUE(s["clients"].contains("stats-agent-1")) << s.dump();
  ASSERT_EQ(s["clients"]["stats-agent-1"].size(), 1u);
  json row = s["clients"]["stats-agent-1"][0];
  EXPECT_EQ(row["client_id"], "stats-agent-1");
  EXPECT_EQ(row["rpc_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(row["topics"], json::array({"st_a", "st_b"}));
  EXPECT_EQ(row["address"], address);
  EXPECT_EQ(row["connected_since"].get<std::string>().back(), 'Z');
  EXPECT_EQ(row["protocol"], 1);
  EXPECT_TRUE(row["applied_seq"].is_null());
  EXPECT_EQ(row["lag"], 0);  // live from when it subscribed

  json first = publish("st_a");
  ASSERT_EQ(agent.read_notify()["id"], first["id"]);
  EXPECT_EQ(stats()["clients"]["stats-agent-1"][0]["lag"], 1);

  json applied = {{"id", first["id"]}, {"seq", first["seq"]}, {"ok", true}};
  EXPECT_EQ(agent.expect_response(agent.call("pdl_applied", applied.dump())).result_json, "true");
  row = stats()["clients"]["stats-agent-1"][0];
  EXPECT_EQ(row["applied_seq"], first["seq"]);
  EXPECT_EQ(row["lag"], 0);

  // The brief form counts clients.
  json brief = stats("/stats");
  EXPECT_EQ(brief.size(), 4u);
  EXPECT_GE(brief["client_count"].get<int>(), 1);
  EXPECT_EQ(brief["server_count"], 1);
  EXPECT_EQ(brief["uptime"], s["uptime"]);
  EXPECT_EQ(brief["version"], s["version"]);
}

TEST_F(statistics_endpoint, an_opal_client_is_listed_by_its_channel_id_without_lag) {
  ws_client opal(port(), *client_, {});
  ASSERT_TRUE(opal.subscribe({"st_opal"}));
  std::string channel =
      json::parse(opal.expect_response(opal.call("_get_channel_id_", "{}")).result_json);
  json row = stats()["clients"][channel][0];
  EXPECT_EQ(row["rpc_id"], channel);
  EXPECT_EQ(row["protocol"], 0);
  EXPECT_TRUE(row["applied_seq"].is_null());
  EXPECT_TRUE(row["lag"].is_null());
  EXPECT_EQ(row["topics"], json::array({"st_opal"}));
  {
    ws_client second(port(), *client_, ws_client::protocol1("stats-agent-2"));
    ASSERT_TRUE(second.subscribe({"st_opal"}));
    EXPECT_TRUE(stats()["clients"].contains("stats-agent-2"));
    EXPECT_GE(stats("/stats")["client_count"].get<int>(), 2);  // the OPAL client and this one
  }
  EXPECT_TRUE(poll_until([&] { return !stats()["clients"].contains("stats-agent-2"); }, 5s));
}

TEST_F(statistics_endpoint, no_token_header_or_source_config_in_either_body) {
  ws_client agent(port(), *client_, ws_client::protocol1("stats-agent-secret"));
  ASSERT_TRUE(agent.subscribe({"st_secret"}));
  const std::string source_secret = "src-header-secret-5b1e";
  json update = {{"entries",
                  {{{"url", "https://example.invalid/data"},
                    {"config", {{"headers", {{"Authorization", "Bearer " + source_secret}}}}},
                    {"topics", {"st_secret"}},
                    {"dst_path", "/secret"}}}}};
  ASSERT_EQ(call(port(), "POST", "/data/config", *datasource_, update.dump()).status, 200);
  agent.read_notify();
  for (const char* path : {"/statistics", "/stats"}) {
    for (const std::string& token : std::vector<std::string>{master_token, *listener_}) {
      auto r = call(port(), "GET", path, token);
      ASSERT_EQ(r.status, 200);
      for (const std::string& secret :
           {master_token, *client_, *datasource_, *listener_, source_secret}) {
        EXPECT_EQ(r.body.find(secret), std::string::npos) << path;
      }
      EXPECT_EQ(r.body.find("Bearer"), std::string::npos) << path;
      EXPECT_EQ(r.body.find("https://example.invalid"), std::string::npos) << path;
      EXPECT_EQ(r.body.find("PRIVATE KEY"), std::string::npos) << path;
    }
  }
}

}  // namespace
}  // namespace pdl::server
