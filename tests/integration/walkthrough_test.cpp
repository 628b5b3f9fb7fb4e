// OPAL's "trigger data updates" walkthrough, word for word, against our binaries: real processes
// on loopback (server, two agents, two OPA stand-ins, a data source that wants a bearer header).
#include <regex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

http_answer http_get(const std::string& url) { return http_call("GET", url); }

class walkthrough : public process_fixture {
 protected:
  std::string all_logs() const { return procs.logs(); }
};

TEST_F(walkthrough, billing_update_reaches_only_the_subscribed_agent) {
  // The policy stores and the data source.
  int opa_a = start_with_port("opa-a", "opa-standin", {"--addr", "127.0.0.1:0"});
  int opa_b = start_with_port("opa-b", "opa-standin", {"--addr", "127.0.0.1:0"});
  int source = start_with_port(
      "source", "fake-data-source",
      {"--addr", "127.0.0.1:0", "--require-header", "authorization: bearer secret-token",
       "--route", R"(/users={"alice":{"role":"admin","manager":null},"bob":{"role":"viewer"}})"});

  // opal-server generate-secret
  auto secret = run_command(binary_path("opal-server"), {"generate-secret"});
  ASSERT_EQ(secret.exit_code, 0) << secret.output;
  std::string master = last_line(secret.output);
  ASSERT_GE(master.size(), 40u);

  // The server, with Kubernetes' injected OPAL_SERVER_PORT that must not break startup.
  int server = start_with_port("server", "opal-server", {"run"},
                               {{"OPAL_AUTH_MASTER_TOKEN", master},
                                {"OPAL_SERVER_HOST", "127.0.0.1"},
                                {"OPAL_SERVER_BIND_PORT", "0"},
                                {"OPAL_SERVER_PORT", "tcp://10.96.0.12:7002"}});
  std::string server_url = "http://127.0.0.1:" + std::to_string(server);

  // opal-client obtain-token MASTER --uri=... --type client (for the agents)
  auto client_tok = run_command(binary_path("opal-client"),
                                {"obtain-token", master, "--uri=" + server_url, "--type", "client"});
  ASSERT_EQ(client_tok.exit_code, 0) << client_tok.output;
  std::string client_token = last_line(client_tok.output);

  auto agent_env = [&](int opa, const std::string& topics) {
    return std::map<std::string, std::string>{
        {"OPAL_SERVER_URL", server_url},
        {"OPAL_CLIENT_TOKEN", client_token},
        {"OPAL_DATA_TOPICS", topics},
        {"OPAL_POLICY_STORE_URL", "http://127.0.0.1:" + std::to_string(opa)},
        {"OPAL_CLIENT_API_SERVER_PORT", "0"}};
  };
  int agent_a = start_with_port("agent-a", "opal-client", {"run"}, agent_env(opa_a, "billing"));
  // Agent B's server URL has an upper-case scheme: its WebSocket URL and its base config URL are
  // derived from it (schemes are case-insensitive, RFC 3986).
  auto env_b = agent_env(opa_b, "other");
  env_b["OPAL_SERVER_URL"] = "HTTP://127.0.0.1:" + std::to_string(server);
  int agent_b = start_with_port("agent-b", "opal-client", {"run"}, env_b);
  for (int port : {agent_a, agent_b}) {
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/ready";
    ASSERT_TRUE(poll_until([&] { return http_get(url).status == 200; }, 20000ms))
        << all_logs();
  }

  // opal-client obtain-token MASTER --uri=... --type datasource
  auto ds_tok = run_command(binary_path("opal-client"), {"obtain-token", master,
                                                         "--uri=" + server_url, "--type",
                                                         "datasource"});
  ASSERT_EQ(ds_tok.exit_code, 0) << ds_tok.output;
  std::string token = last_line(ds_tok.output);

  // opal-client publish-data-update $token --src-url .../users -t users -t billing --src-config ...
  std::string src_url = "http://127.0.0.1:" + std::to_string(source) + "/users";
  auto pub = run_command(binary_path("opal-client"),
                         {"publish-data-update", token, "--uri=" + server_url, "--src-url",
                          src_url, "-t", "users", "-t", "billing", "--src-config",
                          R"({"headers":{"authorization":"bearer secret-token"}})",
                          "--dst-path", "/users"});
  ASSERT_EQ(pub.exit_code, 0) << pub.output << all_logs();

  // The users land at /users in agent A's store, nulls kept.
  std::string users_a = "http://127.0.0.1:" + std::to_string(opa_a) + "/v1/data/users";
  json expected = json::parse(R"({"alice":{"role":"admin","manager":null},"bob":{"role":"viewer"}})");
  ASSERT_TRUE(poll_until(
      [&] {
        auto r = http_get(users_a);
        if (r.status != 200) return false;
        auto j = json::parse(r.body, nullptr, false);
        return j.is_object() && j.contains("result") && j["result"] == expected;
      },
      20000ms))
      << http_get(users_a).body << all_logs();

  // HTTP:// with a mixed-case host works end to end: the server accepts the entry, the agent
  // fetches it, the store receives the data.
  const std::string upper_url = "HTTP://LocalHost:" + std::to_string(source) + "/users";
  auto pub_upper = run_command(binary_path("opal-client"),
                               {"publish-data-update", token, "--uri=" + server_url, "--src-url",
                                upper_url, "-t", "billing", "--src-config",
                                R"({"headers":{"authorization":"bearer secret-token"}})",
                                "--dst-path", "/users_upper"});
  ASSERT_EQ(pub_upper.exit_code, 0) << pub_upper.output << all_logs();
  std::string upper_a = "http://127.0.0.1:" + std::to_string(opa_a) + "/v1/data/users_upper";
  ASSERT_TRUE(poll_until(
      [&] {
        auto r = http_get(upper_a);
        auto j = json::parse(r.body, nullptr, false);
        return r.status == 200 && j.is_object() && j.value("result", json()) == expected;
      },
      20000ms))
      << http_get(upper_a).body << all_logs();

  // The walkthrough's own command (no --dst-path: the root) also works, since the source answers
  // an object.
  auto pub_root = run_command(binary_path("opal-client"),
                              {"publish-data-update", token, "--uri=" + server_url, "--src-url",
                               src_url, "-t", "users", "-t", "billing", "--src-config",
                               R"({"headers":{"authorization":"bearer secret-token"}})"});
  ASSERT_EQ(pub_root.exit_code, 0) << pub_root.output;
  std::string alice_a = "http://127.0.0.1:" + std::to_string(opa_a) + "/v1/data/alice/role";
  EXPECT_TRUE(poll_until([&] { return http_get(alice_a).body == "{\"result\":\"admin\"}\n"; },
                         20000ms))
      << http_get(alice_a).body;

  // Agent B (topic "other") wrote nothing.
  auto writes_b = http_get("http://127.0.0.1:" + std::to_string(opa_b) + "/_standin/writes");
  ASSERT_EQ(writes_b.status, 200);
  EXPECT_EQ(json::parse(writes_b.body), json::array()) << writes_b.body;

  // A client token may not publish: non-zero exit and the server's reason printed.
  auto refused = run_command(binary_path("opal-client"),
                             {"publish-data-update", client_token, "--uri=" + server_url,
                              "--src-url", src_url, "-t", "billing"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("403"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("datasource"), std::string::npos) << refused.output;

  // Bad JSON in a flag names the flag, and nothing is sent.
  auto bad_flag = run_command(binary_path("opal-client"),
                              {"publish-data-update", token, "--uri=" + server_url, "--src-url",
                               src_url, "-t", "billing", "--src-config", "{not json"});
  EXPECT_NE(bad_flag.exit_code, 0);
  EXPECT_NE(bad_flag.output.find("--src-config"), std::string::npos) << bad_flag.output;

  // No process ever logged the source's secret, a JWT, or the master token.
  procs.stop_all();
  std::string logs = procs.all_logs();
  EXPECT_EQ(logs.find("secret-token"), std::string::npos);
  EXPECT_EQ(logs.find(master), std::string::npos);
  std::regex jwt(R"(eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,})");
  EXPECT_FALSE(std::regex_search(logs, jwt));
}

}  // namespace
}  // namespace pdl::test
