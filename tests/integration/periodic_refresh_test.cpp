// Issue 4 point 4 with real processes on loopback: a base entry with periodic_update_interval is
// refetched and its source's new answer reaches the policy store; a server whose base config is
// an external_source_url sends the agent there, and the agent sends its client token in the
// Authorization header, never in a URL.
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

class periodic_refresh_it : public process_fixture {
 protected:
  std::string all_logs() { return procs.all_logs(); }

  /** Starts opal-server with @p data_sources (OPAL_DATA_CONFIG_SOURCES); returns its URL and
   *  sets @p client_token. */
  std::string start_server(const std::string& data_sources, std::string& client_token) {
    auto secret = run_command(binary_path("opal-server"), {"generate-secret"});
    EXPECT_EQ(secret.exit_code, 0) << secret.output;
    master = last_line(secret.output);
    const int port = start_with_port("server", "opal-server", {"run"},
                                     {{"OPAL_AUTH_MASTER_TOKEN", master},
                                      {"OPAL_SERVER_HOST", "127.0.0.1"},
                                      {"OPAL_SERVER_BIND_PORT", "0"},
                                      {"OPAL_DATA_CONFIG_SOURCES", data_sources}});
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    auto tok = run_command(binary_path("opal-client"),
                           {"obtain-token", master, "--uri=" + url, "--type", "client"});
    EXPECT_EQ(tok.exit_code, 0) << tok.output;
    client_token = last_line(tok.output);
    return url;
  }

  void start_agent(const std::string& server_url, const std::string& token, int opa) {
    const int api = start_with_port("agent", "opal-client", {"run"},
                                    {{"OPAL_SERVER_URL", server_url},
                                     {"OPAL_CLIENT_TOKEN", token},
                                     {"OPAL_POLICY_STORE_URL",
                                      "http://127.0.0.1:" + std::to_string(opa)},
                                     {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
    agent_api = "http://127.0.0.1:" + std::to_string(api);
  }

  /** Polls the stand-in until @p path holds @p expected. */
  bool store_holds(int opa, const std::string& path, const json& expected) {
    const std::string url = "http://127.0.0.1:" + std::to_string(opa) + "/v1/data" + path;
    return poll_until(
        [&] {
          auto r = http_call("GET", url);
          if (r.status != 200) return false;
          auto j = json::parse(r.body, nullptr, false);
          return j.is_object() && j.contains("result") && j["result"] == expected;
        },
        30000ms);
  }

  /** No process printed the client token, the master token or any JWT. */
  void expect_no_secret_in_logs(const std::string& client_token) {
    procs.stop_all();
    const std::string logs = all_logs();
    EXPECT_EQ(logs.find(client_token), std::string::npos);
    EXPECT_EQ(logs.find(master), std::string::npos);
    std::regex jwt(R"(eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,})");
    EXPECT_FALSE(std::regex_search(logs, jwt));
  }

  std::string master;
  std::string agent_api;
};

TEST_F(periodic_refresh_it, a_periodic_base_entry_picks_up_the_source_s_new_answer) {
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const int source = start_with_port("source", "fake-data-source",
                                     {"--addr", "127.0.0.1:0", "--route", R"(/users={"v":1})"});
  const std::string source_url = "http://127.0.0.1:" + std::to_string(source);
  const json sources = {
      {"config",
       {{"entries", json::array({{{"url", source_url + "/users"},
                                  {"topics", json::array({"policy_data"})},
                                  {"dst_path", "/users"},
                                  {"periodic_update_interval", 1}},
                                 {{"url", ""},
                                  {"topics", json::array({"policy_data"})},
                                  {"dst_path", "/static"},
                                  {"data", {{"once", true}}}}})}}}};
  std::string token;
  const std::string server = start_server(sources.dump(), token);
  ASSERT_FALSE(token.empty());
  start_agent(server, token, opa);

  ASSERT_TRUE(store_holds(opa, "/users", json{{"v", 1}})) << all_logs();
  ASSERT_TRUE(store_holds(opa, "/static", json{{"once", true}})) << all_logs();

  // The source changes its answer; the next refresh (about a second later) brings it.
  auto put = http_call("PUT", source_url + "/_source/route?path=%2Fusers", "", R"({"v":2,"new":true})");
  ASSERT_EQ(put.status, 200) << put.body;
  ASSERT_TRUE(store_holds(opa, "/users", json{{"v", 2}, {"new", true}})) << all_logs();

  // Refreshed more than once, and only the periodic entry is refetched.
  const auto counts = json::parse(http_call("GET", source_url + "/_source/requests").body);
  EXPECT_GE(counts["paths"]["/users"]["requests"].get<int>(), 2) << counts.dump();
  EXPECT_EQ(http_call("GET", agent_api + "/ready").status, 200);
  EXPECT_NE(all_logs().find("periodic refresh scheduled for 1 base entries"), std::string::npos);
  expect_no_secret_in_logs(token);
}

TEST_F(periodic_refresh_it, external_source_gets_the_token_in_a_header_never_in_a_url) {
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const json ext_config = {
      {"entries", json::array({{{"url", ""},
                                {"topics", json::array({"policy_data"})},
                                {"dst_path", "/ext"},
                                {"data", {{"from", "external"}}}}})}};
  const int source = start_with_port(
      "source", "fake-data-source",
      {"--addr", "127.0.0.1:0", "--route", "/config=" + ext_config.dump()});
  const std::string source_url = "http://127.0.0.1:" + std::to_string(source);
  std::string token;
  const std::string server = start_server(
      json{{"external_source_url", source_url + "/config?tenant=t1"}}.dump(), token);
  ASSERT_FALSE(token.empty());
  // From now on the source answers only a request carrying the agent's token in the header.
  auto req = http_call("PUT", source_url + "/_source/require", "", "authorization: bearer " + token);
  ASSERT_EQ(req.status, 200) << req.body;

  // Without a token, the server's redirect leads to a refusal: the source really checks.
  ASSERT_EQ(http_call("GET", source_url + "/config?tenant=t1").status, 401);

  start_agent(server, token, opa);
  ASSERT_TRUE(store_holds(opa, "/ext", json{{"from", "external"}})) << all_logs();

  const auto log = json::parse(http_call("GET", source_url + "/_source/log").body);
  bool agent_authorized = false;
  for (const auto& r : log["requests"]) {
    const auto target = r["target"].get<std::string>();
    EXPECT_EQ(target.find(token), std::string::npos) << target;
    EXPECT_EQ(target.find("token="), std::string::npos) << target;
    if (target == "/config?tenant=t1" && r["authorized"].get<bool>()) {
      agent_authorized = true;
    }
  }
  EXPECT_TRUE(agent_authorized) << log.dump();
  expect_no_secret_in_logs(token);
}

}  // namespace
}  // namespace pdl::test
