// Every hop over TLS with real processes: opal-server serving HTTPS/WSS, agents verifying it with
// a CA file (and one with the wrong CA, which must never connect), the CLI publishing over HTTPS.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/http/client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

struct http_answer {
  long status = 0;
  std::string body;
};

http_answer http_get(const std::string& url, const std::string& ca_file = "") {
  http_client::request req;
  req.url = url;
  req.ca_file = ca_file;
  auto r = http_client::perform(req);
  if (auto* ok = std::get_if<http_client::response>(&r)) {
    return {ok->status, ok->body};
  }
  return {};
}

std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  auto nl = s.find_last_of('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

class tls_hops : public ::testing::Test {
 protected:
  temp_dir dir;
  std::vector<std::unique_ptr<process>> procs;
  std::string outputs;  // everything the CLI printed

  process& start(const std::string& name, const std::string& bin, std::vector<std::string> args,
                 std::map<std::string, std::string> env = {}) {
    procs.push_back(std::make_unique<process>(binary_path(bin), args, env,
                                              dir.file(name + ".log")));
    return *procs.back();
  }
  int start_with_port(const std::string& name, const std::string& bin,
                      std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    std::string pf = dir.file(name + ".port");
    args.push_back("--port-file");
    args.push_back(pf);
    auto& p = start(name, bin, args, env);
    return wait_for_port_file(pf, 20000ms, &p);
  }
  run_result cli(const std::vector<std::string>& args) {
    auto r = run_command(binary_path("opal-client"), args);
    outputs += r.output;
    return r;
  }
  std::string all_logs() {
    std::string s;
    for (auto& p : procs) s += p->log();
    return s;
  }
};

TEST_F(tls_hops, an_update_published_over_https_reaches_an_agent_over_wss) {
  const auto certs = test_certs::generate(dir.path());
  int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const std::string master = "tls-test-master-token-0123456789abcdef";
  int server = start_with_port("server", "opal-server", {"run"},
                               {{"OPAL_AUTH_MASTER_TOKEN", master},
                                {"OPAL_SERVER_HOST", "127.0.0.1"},
                                {"OPAL_SERVER_BIND_PORT", "0"},
                                {"OPAL_SERVER_TLS_CERT_FILE", certs.server_cert},
                                {"OPAL_SERVER_TLS_KEY_FILE", certs.server_key}});
  const std::string server_url = "https://127.0.0.1:" + std::to_string(server);
  ASSERT_EQ(http_get(server_url + "/healthcheck", certs.ca_cert).status, 200) << all_logs();

  // The CLI verifies the server: without our CA it fails, naming the TLS problem.
  auto refused = cli({"obtain-token", master, "--uri=" + server_url, "--type", "client"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("certificate"), std::string::npos) << refused.output;
  auto client_tok = cli({"obtain-token", master, "--uri=" + server_url, "--type", "client",
                         "--ca-file", certs.ca_cert});
  ASSERT_EQ(client_tok.exit_code, 0) << client_tok.output << all_logs();
  const std::string client_token = last_line(client_tok.output);
  auto ds_tok = cli({"obtain-token", master, "--uri=" + server_url, "--type", "datasource",
                     "--ca-file", certs.ca_cert});
  ASSERT_EQ(ds_tok.exit_code, 0) << ds_tok.output;
  const std::string ds_token = last_line(ds_tok.output);

  auto agent_env = [&](const std::string& ca) {
    return std::map<std::string, std::string>{
        {"OPAL_SERVER_URL", server_url},
        {"OPAL_CLIENT_TOKEN", client_token},
        {"OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE", ca},
        {"OPAL_POLICY_STORE_URL", "http://127.0.0.1:" + std::to_string(opa)},
        {"OPAL_CLIENT_API_SERVER_PORT", "0"}};
  };
  int good = start_with_port("agent-good", "opal-client", {"run"}, agent_env(certs.ca_cert));
  int bad = start_with_port("agent-bad", "opal-client", {"run"}, agent_env(certs.other_ca_cert));
  const std::string good_ready = "http://127.0.0.1:" + std::to_string(good) + "/ready";
  ASSERT_TRUE(poll_until([&] { return http_get(good_ready).status == 200; }, 20000ms))
      << all_logs();

  auto pub = cli({"publish-data-update", ds_token, "--uri=" + server_url, "--ca-file",
                  certs.ca_cert, "-t", "policy_data", "--data", R"({"tier":"gold"})",
                  "--dst-path", "/tls/customer", "--wait", "20"});
  ASSERT_EQ(pub.exit_code, 0) << pub.output << all_logs();
  const std::string doc = "http://127.0.0.1:" + std::to_string(opa) + "/v1/data/tls/customer";
  ASSERT_TRUE(poll_until(
      [&] {
        auto j = json::parse(http_get(doc).body, nullptr, false);
        return j.is_object() && j.contains("result") && j["result"] == json{{"tier", "gold"}};
      },
      20000ms))
      << http_get(doc).body << all_logs();

  // The agent with the wrong CA logs why, keeps retrying, and never connects.
  process& bad_agent = *procs.back();
  ASSERT_TRUE(poll_until(
      [&] {
        return bad_agent.log().find("certificate verify failed") != std::string::npos;
      },
      20000ms))
      << bad_agent.log();
  auto status = json::parse(
      http_get("http://127.0.0.1:" + std::to_string(bad) + "/status").body, nullptr, false);
  ASSERT_TRUE(status.is_object()) << bad_agent.log();
  EXPECT_EQ(status["server"]["connected"], false) << status.dump();
  EXPECT_EQ(bad_agent.log().find("connected to wss://"), std::string::npos) << bad_agent.log();
  EXPECT_NE(http_get("http://127.0.0.1:" + std::to_string(bad) + "/ready").status, 200);

  // No token in any log or CLI output (the tokens themselves are the CLI's stdout: skip those).
  std::string printed = outputs;
  for (const auto& t : {client_token, ds_token}) {
    for (auto pos = printed.find(t); pos != std::string::npos; pos = printed.find(t)) {
      printed.erase(pos, t.size());
    }
  }
  const std::string logs = all_logs() + printed;
  for (const auto& t : {master, client_token, ds_token}) {
    EXPECT_EQ(logs.find(t), std::string::npos) << "a token leaked into the logs";
  }
}

}  // namespace
}  // namespace pdl::test
