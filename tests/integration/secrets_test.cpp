// Secrets by reference (issue 12, point 6) with real processes: a source that requires a bearer
// token gets it from the agent's own secrets directory, while the update that travels through
// the server only names it; a reference to a secret the agent does not have fails that entry
// (reason secret_missing, nothing sent to the source) and not the others.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/prometheus_text.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

class secrets_it : public process_fixture {
 protected:
  const std::string master = "secrets-master-0123456789abcdef";
  const std::string token_value = "billing-s3cr3t-value";

  void SetUp() override {
    secrets_dir = ::testing::TempDir() + "/pdl-secrets-" + std::to_string(::getpid());
    std::filesystem::remove_all(secrets_dir);
    std::filesystem::create_directories(secrets_dir);
    std::ofstream(secrets_dir + "/billing-token") << token_value << "\n";
  }
  void TearDown() override { std::filesystem::remove_all(secrets_dir); }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto r = http_call("GET", url(agent) + "/metrics");
    try {
      return parse_prometheus_text(r.body).value(name, labels);
    } catch (const std::exception&) {
      return -1;
    }
  }

  json store_at(const std::string& path) {
    auto r = http_call("GET", url(opa) + "/v1/data" + path);
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("result") ? j["result"] : json(nullptr);
  }

  std::string secrets_dir;
  int opa = 0;
  int source = 0;
  int server = 0;
  int agent = 0;
};

TEST_F(secrets_it, the_agent_fills_in_its_own_secret_and_fails_an_unknown_one_alone) {
  opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  source = start_with_port("source", "fake-data-source",
                           {"--addr", "127.0.0.1:0", "--route", R"(/billing={"plan":"gold"})",
                            "--require-header", "Authorization: Bearer " + token_value});
  server = start_with_port("server", "opal-server", {"run"},
                           {{"OPAL_AUTH_MASTER_TOKEN", master},
                            {"OPAL_SERVER_HOST", "127.0.0.1"},
                            {"OPAL_SERVER_BIND_PORT", "0"}});
  auto mint = [&](const std::string& type) { return mint_token(server, master, type); };
  const std::string client = mint("client");
  const std::string datasource = mint("datasource");
  agent = start_with_port("agent", "opal-client", {"run"},
                          {{"OPAL_SERVER_URL", url(server)},
                           {"OPAL_CLIENT_TOKEN", client},
                           {"OPAL_POLICY_STORE_URL", url(opa)},
                           {"OPAL_CLIENT_API_SERVER_PORT", "0"},
                           {"OPAL_FETCH_SECRETS_DIR", secrets_dir}});
  ASSERT_TRUE(poll_until([&] { return metric("pdl_agent_connected") == 1; })) << procs.all_logs();

  auto entry = [&](const std::string& secret_name, const std::string& dst) {
    return json{{"url", url(source) + "/billing"},
                {"topics", {"policy_data"}},
                {"dst_path", dst},
                {"config",
                 {{"headers", {{"Authorization", "Bearer ${secret:" + secret_name + "}"}}}}}};
  };
  const json update = {{"entries", {entry("billing-token", "/billing"),
                                    entry("no-such-secret", "/other"),
                                    {{"url", ""},
                                     {"topics", {"policy_data"}},
                                     {"dst_path", "/inline"},
                                     {"data", {{"ok", true}}}}}}};
  auto r = http_call("POST", url(server) + "/data/config", datasource, update.dump());
  ASSERT_EQ(r.status, 200) << r.body;

  ASSERT_TRUE(poll_until([&] {
    return metric("pdl_agent_updates_failed_total", {{"reason", "secret_missing"}}) >= 1 &&
           store_at("/inline") == json{{"ok", true}};
  }))
      << procs.all_logs();
  EXPECT_EQ(store_at("/billing"), (json{{"plan", "gold"}})) << procs.all_logs();
  EXPECT_TRUE(store_at("/other").is_null());
  const auto counts = json::parse(http_call("GET", url(source) + "/_source/requests").body);
  EXPECT_EQ(counts["paths"]["/billing"]["requests"], 1)
      << counts << " (the unknown secret sent nothing)";
  EXPECT_EQ(counts["paths"]["/billing"]["authorized"], 1) << counts;

  const std::string logs = procs.all_logs();
  EXPECT_EQ(logs.find(token_value), std::string::npos) << "the secret is in a log";
  EXPECT_NE(logs.find("secret 'no-such-secret' not found"), std::string::npos) << logs;
}

}  // namespace
}  // namespace pdl::test
