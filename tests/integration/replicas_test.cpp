// Server replicas over Redis, end to end with real processes: three opal-server replicas sharing
// one update log in a real redis-server, six agents spread over them (each with a list of server
// URLs, its own replica first), updates published to random replicas while one replica is
// killed; and Redis itself going away and coming back.
//
// Every update PATCHes one number onto the end of a list ("add" at "/-"), so an agent's list is
// exactly the updates it applied, in the order it applied them: a lost update, a duplicate or a
// reordering each shows as a difference from the published order.
#include <algorithm>
#include <random>
#include <regex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/redis_server.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

class replicas : public process_fixture {
 protected:
  // The servers and agents go before Redis does (the base class would kill them after).
  ~replicas() override { procs.stop_all(); }

  void SetUp() override {
    if (!have_redis_server()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh)";
    redis = std::make_unique<redis_server>(dir.file("redis"));
    key = dir.file("signing.pem");
    auto k = run_command("/usr/bin/openssl", {"genrsa", "-out", key, "2048"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    master = "replica-test-master-token-0123456789";
  }

  std::map<std::string, std::string> server_env() {
    return {{"OPAL_AUTH_MASTER_TOKEN", master}, {"OPAL_AUTH_PRIVATE_KEY", key},
            {"OPAL_AUTH_PRIVATE_KEY_FORMAT", "pem"}, {"OPAL_BROADCAST_URI", redis->uri()},
            {"OPAL_SERVER_HOST", "127.0.0.1"}, {"OPAL_SERVER_BIND_PORT", "0"},
            {"OPAL_BROADCAST_CHANNEL_NAME", "replica-test"}};
  }

  std::string token(int server_port, const std::string& type) {
    return mint_token(server_port, master, type);
  }

  /** Starts agent @p name (own stand-in) against @p servers (first preferred). @return the
   *  stand-in's port. */
  int start_agent(const std::string& name, const std::vector<int>& servers,
                  const std::string& topics, const std::string& client_token) {
    const int opa = start_with_port(name + "-opa", "opa-standin", {"--addr", "127.0.0.1:0"}, {});
    std::string urls;
    for (int s : servers) urls += (urls.empty() ? "" : ",") + url(s);
    start_with_port(name, "opal-client", {"run", "--data-dir", dir.file(name + "-data")},
                    {{"OPAL_SERVER_URL", urls},
                     {"OPAL_CLIENT_TOKEN", client_token},
                     {"OPAL_DATA_TOPICS", topics},
                     {"OPAL_POLICY_STORE_URL", url(opa)},
                     {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
    return opa;
  }

  json store_value(int opa, const std::string& path) {
    auto r = http_call("GET", url(opa) + "/v1/data" + path);
    auto j = json::parse(r.body, nullptr, false);
    if (r.status != 200 || !j.is_object()) return json();
    return j.value("result", json());
  }

  /** Publishes to @p server; @return the seq, or 0 when refused (status in @p status). */
  std::uint64_t publish(int server, const std::string& ds_token, const json& update,
                        long* status = nullptr) {
    auto r = http_call("POST", url(server) + "/data/config", ds_token, update.dump());
    if (status != nullptr) *status = r.status;
    if (r.status != 200) return 0;
    return json::parse(r.body).value("seq", std::uint64_t{0});
  }

  static json append_update(const std::string& topic, int value) {
    return {{"entries",
             {{{"url", ""},
               {"topics", {topic}},
               {"dst_path", "/log_" + topic},
               {"save_method", "PATCH"},
               {"data", {{{"op", "add"}, {"path", "/-"}, {"value", value}}}}}}},
            {"reason", "replica test"}};
  }
  static json reset_update(const std::string& topic) {
    return {{"entries",
             {{{"url", ""}, {"topics", {topic}}, {"dst_path", "/log_" + topic}, {"data", json::array()}}}}};
  }

  std::string logs() { return procs.logs(); }

  std::unique_ptr<redis_server> redis;
  std::string key;
  std::string master;
};

TEST_F(replicas, agents_on_every_replica_see_every_update_in_one_order_while_a_replica_dies) {
  std::vector<int> servers;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(start_with_port("server-" + std::to_string(i), "opal-server", {"run"}, server_env()));
  }
  for (int s : servers) {
    ASSERT_TRUE(poll_until([&] { return http_call("GET", url(s) + "/ready").status == 200; }))
        << logs();
  }
  // A token minted by one replica is good on every replica (one signing key).
  const std::string client_token = token(servers[0], "client");
  const std::string ds_token = token(servers[1], "datasource");

  // Six agents: agent i prefers replica i % 3, then the others. Even agents take both topics.
  std::vector<int> opas;
  for (int i = 0; i < 6; ++i) {
    std::vector<int> order{servers[i % 3], servers[(i + 1) % 3], servers[(i + 2) % 3]};
    opas.push_back(start_agent("agent-" + std::to_string(i), order, i % 2 == 0 ? "a,b" : "a",
                               client_token));
  }

  std::mt19937 rng(20261128);
  std::vector<bool> alive{true, true, true};
  json expected_a = json::array(), expected_b = json::array();
  std::uint64_t last_seq = 0;
  auto publish_checked = [&](const json& u) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      int r = static_cast<int>(rng() % 3);
      if (!alive[r]) continue;
      long status = 0;
      const auto seq = publish(servers[r], ds_token, u, &status);
      EXPECT_EQ(status, 200) << "replica " << r;
      EXPECT_GT(seq, last_seq);  // one sequence for the whole cluster
      last_seq = seq;
      return;
    }
    FAIL() << "no live replica was picked";
  };
  publish_checked(reset_update("a"));
  publish_checked(reset_update("b"));
  const int total = 300;
  for (int n = 1; n <= total; ++n) {
    const std::string topic = rng() % 3 == 0 ? "b" : "a";
    publish_checked(append_update(topic, n));
    (topic == "a" ? expected_a : expected_b).push_back(n);
    if (n == total / 2) {
      procs["server-0"].kill9();  // agents 0 and 3 must move to another replica and resume
      alive[0] = false;
    }
    if (HasFatalFailure()) return;
  }

  for (int i = 0; i < 6; ++i) {
    const bool wants_b = i % 2 == 0;
    ASSERT_TRUE(poll_until(
        [&] {
          return store_value(opas[i], "/log_a") == expected_a &&
                 (!wants_b || store_value(opas[i], "/log_b") == expected_b);
        },
        30000ms))
        << "agent " << i << " log_a=" << store_value(opas[i], "/log_a").dump()
        << "\nexpected " << expected_a.dump() << logs();
    if (!wants_b) {
      EXPECT_TRUE(store_value(opas[i], "/log_b").is_null()) << "agent " << i;
    }
  }
  // Agents 0 and 3 preferred the dead replica: their logs tell they moved.
  for (int i : {0, 3}) {
    const auto log = procs["agent-" + std::to_string(i)].log();
    EXPECT_NE(log.find(url(servers[1]).substr(7)), std::string::npos) << log;
  }
  // No secret in any log.
  EXPECT_EQ(logs().find(client_token), std::string::npos);
  EXPECT_EQ(logs().find(ds_token), std::string::npos);
  EXPECT_EQ(logs().find(master), std::string::npos);
}

TEST_F(replicas, redis_down_means_503_and_not_ready_and_everything_resumes_when_it_returns) {
  std::vector<int> servers;
  for (int i = 0; i < 2; ++i) {
    servers.push_back(start_with_port("server-" + std::to_string(i), "opal-server", {"run"}, server_env()));
  }
  for (int s : servers) {
    ASSERT_TRUE(poll_until([&] { return http_call("GET", url(s) + "/ready").status == 200; }))
        << logs();
  }
  const std::string client_token = token(servers[0], "client");
  const std::string ds_token = token(servers[0], "datasource");
  const int opa0 = start_agent("agent-0", {servers[0], servers[1]}, "a", client_token);
  const int opa1 = start_agent("agent-1", {servers[1], servers[0]}, "a", client_token);

  json expected = json::array();
  ASSERT_GT(publish(servers[0], ds_token, reset_update("a")), 0u);
  int n = 0;
  for (; n < 20; ++n) {
    ASSERT_GT(publish(servers[n % 2], ds_token, append_update("a", n)), 0u);
    expected.push_back(n);
  }

  redis->kill();
  for (int s : servers) {
    EXPECT_TRUE(poll_until([&] { return http_call("GET", url(s) + "/ready").status == 503; }))
        << logs();
    long status = 0;
    EXPECT_EQ(publish(s, ds_token, append_update("a", 999), &status), 0u);
    EXPECT_EQ(status, 503);  // never 200 for an update that is not stored
    EXPECT_EQ(http_call("GET", url(s) + "/healthy").status, 200);  // alive, just not ready
  }

  redis->start();
  for (int s : servers) {
    ASSERT_TRUE(poll_until([&] { return http_call("GET", url(s) + "/ready").status == 200; }, 20000ms))
        << logs();
  }
  for (; n < 40; ++n) {
    std::uint64_t seq = 0;
    ASSERT_TRUE(poll_until([&] { return (seq = publish(servers[n % 2], ds_token, append_update("a", n))) > 0; }))
        << logs();
    expected.push_back(n);
  }
  for (int opa : {opa0, opa1}) {
    ASSERT_TRUE(poll_until([&] { return store_value(opa, "/log_a") == expected; }, 30000ms))
        << store_value(opa, "/log_a").dump() << "\nexpected " << expected.dump() << logs();
  }
}

// Issue 13, point 5: delivery status answers for the whole cluster, through any replica.
// Replica A has agent-a, replica B agent-b (which also takes topic "f"), replica C none.
TEST_F(replicas, delivery_status_and_wait_count_the_agents_of_every_replica) {
  std::vector<int> servers;
  for (const char* name : {"server-a", "server-b", "server-c"}) {
    servers.push_back(start_with_port(name, "opal-server", {"run"}, server_env()));
  }
  for (int s : servers) {
    ASSERT_TRUE(poll_until([&] { return http_call("GET", url(s) + "/ready").status == 200; }))
        << logs();
  }
  const int a = servers[0], b = servers[1], c = servers[2];
  const std::string client_token = token(a, "client");
  const std::string ds_token = token(a, "datasource");
  const int opa_a = start_agent("agent-a", {a}, "a", client_token);
  const int opa_b = start_agent("agent-b", {b}, "a,f", client_token);
  const int source = start_with_port("source", "fake-data-source",
                                     {"--addr", "127.0.0.1:0", "--route", R"(/f={"v":1})"});
  // Both agents connected and applying (their ids are in their data directories by then).
  ASSERT_GT(publish(c, ds_token, reset_update("a")), 0u);
  for (int opa : {opa_a, opa_b}) {
    ASSERT_TRUE(poll_until([&] { return store_value(opa, "/log_a") == json::array(); }, 20000ms))
        << logs();
  }
  auto agent_id = [&](const std::string& name) {
    std::string id = read_file(dir.file(name + "-data") + "/agent_id");
    while (!id.empty() && id.back() == '\n') id.pop_back();
    return id;
  };
  const std::string id_a = agent_id("agent-a");
  const std::string id_b = agent_id("agent-b");
  ASSERT_FALSE(id_a.empty());
  ASSERT_FALSE(id_b.empty());

  // Published through A, asked through B (and C): both agents, both applied.
  auto r = http_call("POST", url(a) + "/data/config", ds_token, append_update("a", 1).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string id = json::parse(r.body).value("id", "");
  for (int s : {b, c}) {
    json st;
    ASSERT_TRUE(poll_until(
        [&] {
          auto g = http_call("GET", url(s) + "/data/updates/" + id, ds_token);
          st = json::parse(g.body, nullptr, false);
          return g.status == 200 && st.value("complete", false) &&
                 st["agents"]["applied"].size() == 2;
        },
        20000ms))
        << st.dump() << logs();
    auto subscribed = st["agents"]["subscribed"].get<std::vector<std::string>>();
    std::sort(subscribed.begin(), subscribed.end());
    EXPECT_EQ(subscribed, (std::vector<std::string>{std::min(id_a, id_b), std::max(id_a, id_b)}));
    EXPECT_EQ(st["replicas"]["reported"], 3);
  }

  // The CLI's --wait through C, which has no agent at all: it counts both.
  auto wait = run_command(binary_path("opal-client"),
                          {"publish-data-update", ds_token, "--uri=" + url(c), "-t", "a",
                           "--data", R"([{"op":"add","path":"/-","value":2}])", "--dst-path",
                           "/log_a", "--save-method", "PATCH", "--wait", "20"});
  EXPECT_EQ(wait.exit_code, 0) << wait.output << logs();
  EXPECT_NE(wait.output.find("Applied by 2 agent(s)"), std::string::npos) << wait.output;
  EXPECT_EQ(wait.output.find("no agent is subscribed"), std::string::npos) << wait.output;

  // Topic "f" only has agent-b (on B), and its source answers 404: through C, --wait reports
  // the failure with its error, and A's answer shows it too.
  auto failing = run_command(binary_path("opal-client"),
                             {"publish-data-update", ds_token, "--uri=" + url(c), "-t", "f",
                              "--src-url", url(source) + "/missing", "--dst-path", "/f",
                              "--wait", "20"});
  EXPECT_EQ(failing.exit_code, 1) << failing.output << logs();
  EXPECT_NE(failing.output.find(id_b + ": failed: "), std::string::npos) << failing.output;
  EXPECT_NE(failing.output.find("404"), std::string::npos) << failing.output;
  EXPECT_EQ(failing.output.find("no agent is subscribed"), std::string::npos) << failing.output;
  // "Event Published Successfully (id <id>, seq <n>)"
  std::smatch m;
  std::string failed_id;
  if (std::regex_search(failing.output, m, std::regex(R"(\(id ([0-9A-Za-z_.-]+),)"))) {
    failed_id = m[1];
  }
  if (!failed_id.empty()) {
    auto g = http_call("GET", url(a) + "/data/updates/" + failed_id, ds_token);
    ASSERT_EQ(g.status, 200) << g.body;
    auto st = json::parse(g.body);
    ASSERT_EQ(st["agents"]["failed"].size(), 1u) << st.dump();
    EXPECT_EQ(st["agents"]["failed"][0]["agent"], id_b);
    EXPECT_NE(st["agents"]["failed"][0]["errors"].dump().find("404"), std::string::npos)
        << st.dump();
    EXPECT_EQ(st["agents"]["subscribed"], json::array({id_b}));
  } else {
    ADD_FAILURE() << "no update id in the CLI's output: " << failing.output;
  }

  // No secret in any log.
  EXPECT_EQ(logs().find(client_token), std::string::npos);
  EXPECT_EQ(logs().find(ds_token), std::string::npos);
  EXPECT_EQ(logs().find(master), std::string::npos);
}

}  // namespace
}  // namespace pdl::test
