// Every hop over TLS with real processes: opal-server serving HTTPS/WSS, agents verifying it with
// a CA file (and one with the wrong CA, which must never connect), the CLI publishing over HTTPS,
// and agents writing to an OPA stand-in that serves HTTPS and requires client certificates.
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/http/client.hpp"
#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/test_certs.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

http_answer http_get(const std::string& url, const std::string& ca_file = "",
                     const std::string& client_cert = "", const std::string& client_key = "") {
  http_client::request req;
  req.url = url;
  req.ca_file = ca_file;
  req.client_cert = client_cert;
  req.client_key = client_key;
  auto r = http_client::perform(req);
  if (auto* ok = std::get_if<http_client::response>(&r)) {
    return {ok->status, ok->body};
  }
  return {};
}

class tls_hops : public process_fixture {
 protected:
  std::string outputs;  // everything the CLI printed

  run_result cli(const std::vector<std::string>& args) {
    auto r = run_command(binary_path("opal-client"), args);
    outputs += r.output;
    return r;
  }
  std::string all_logs() const { return procs.all_logs(); }
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

  // A document the server fetched once (docs/fetch-once.md) reaches the agent over HTTPS: the
  // blob goes through the TLS layer in several pieces (it is larger than one).
  {
    json big = json::object({{"items", json::array()}});
    for (int i = 0; i < 6000; ++i) {
      big["items"].push_back({{"id", i}, {"name", "customer-" + std::to_string(i)}});
    }
    const std::string file = dir.file("big.json");
    std::ofstream(file) << big.dump();
    const int source = start_with_port("source", "fake-data-source",
                                       {"--addr", "127.0.0.1:0", "--route", "/big=@" + file});
    auto fetched = cli({"publish-data-update", ds_token, "--uri=" + server_url, "--ca-file",
                        certs.ca_cert, "-t", "policy_data", "--src-url",
                        "http://127.0.0.1:" + std::to_string(source) + "/big", "--fetched-by",
                        "server", "--dst-path", "/tls/big"});
    ASSERT_EQ(fetched.exit_code, 0) << fetched.output << all_logs();
    EXPECT_NE(fetched.output.find("fetched once by the server"), std::string::npos)
        << fetched.output;
    const std::string big_doc = "http://127.0.0.1:" + std::to_string(opa) + "/v1/data/tls/big";
    ASSERT_TRUE(poll_until(
        [&] {
          auto j = json::parse(http_get(big_doc).body, nullptr, false);
          return j.is_object() && j.contains("result") && j["result"] == big;
        },
        20000ms))
        << all_logs();
  }

  // The agent with the wrong CA logs why, keeps retrying, and never connects.
  process& bad_agent = procs["agent-bad"];
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

TEST_F(tls_hops, an_agent_writes_to_the_policy_store_over_mtls_and_one_without_a_cert_is_refused) {
  const auto certs = test_certs::generate(dir.path());
  // OPA's own flags: HTTPS only, clients need a certificate the CA signed.
  const std::vector<std::string> opa_tls{"--tls-cert-file",    certs.server_cert,
                                         "--tls-private-key-file", certs.server_key,
                                         "--tls-ca-cert-file", certs.ca_cert,
                                         "--authentication=tls"};
  auto with_addr = [&](std::vector<std::string> a) {
    a.insert(a.begin(), {"--addr", "127.0.0.1:0"});
    return a;
  };
  int opa_good = start_with_port("opa-mtls", "opa-standin", with_addr(opa_tls));
  process& good_store = procs["opa-mtls"];
  int opa_bad = start_with_port("opa-mtls-2", "opa-standin", with_addr(opa_tls));
  process& bad_store = procs["opa-mtls-2"];
  const std::string master = "tls-store-test-master-token-0123456789";
  // The server hop stays plaintext here: this test is about the store hop.
  int server = start_with_port("server", "opal-server", {"run"},
                               {{"OPAL_AUTH_MASTER_TOKEN", master},
                                {"OPAL_SERVER_HOST", "127.0.0.1"},
                                {"OPAL_SERVER_BIND_PORT", "0"}});
  const std::string server_url = "http://127.0.0.1:" + std::to_string(server);
  auto client_tok = cli({"obtain-token", master, "--uri=" + server_url, "--type", "client"});
  ASSERT_EQ(client_tok.exit_code, 0) << client_tok.output << all_logs();
  const std::string client_token = last_line(client_tok.output);
  auto ds_tok = cli({"obtain-token", master, "--uri=" + server_url, "--type", "datasource"});
  ASSERT_EQ(ds_tok.exit_code, 0) << ds_tok.output;
  const std::string ds_token = last_line(ds_tok.output);

  const std::string good_url = "https://127.0.0.1:" + std::to_string(opa_good);
  const std::string bad_url = "https://127.0.0.1:" + std::to_string(opa_bad);
  int good = start_with_port("agent-mtls", "opal-client", {"run"},
                             {{"OPAL_SERVER_URL", server_url},
                              {"OPAL_CLIENT_TOKEN", client_token},
                              {"OPAL_POLICY_STORE_URL", good_url},
                              {"OPAL_POLICY_STORE_AUTH_TYPE", "tls"},
                              {"OPAL_POLICY_STORE_TLS_CA", certs.ca_cert},
                              {"OPAL_POLICY_STORE_TLS_CLIENT_CERT", certs.client_cert},
                              {"OPAL_POLICY_STORE_TLS_CLIENT_KEY", certs.client_key},
                              {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
  int bad = start_with_port("agent-nocert", "opal-client", {"run"},
                            {{"OPAL_SERVER_URL", server_url},
                             {"OPAL_CLIENT_TOKEN", client_token},
                             {"OPAL_POLICY_STORE_URL", bad_url},
                             {"OPAL_POLICY_STORE_TLS_CA", certs.ca_cert},
                             {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
  process& bad_agent = procs["agent-nocert"];
  const std::string good_api = "http://127.0.0.1:" + std::to_string(good);
  const std::string bad_api = "http://127.0.0.1:" + std::to_string(bad);
  ASSERT_TRUE(poll_until([&] { return http_get(good_api + "/ready").status == 200; }, 20000ms))
      << all_logs();

  auto pub = cli({"publish-data-update", ds_token, "--uri=" + server_url, "-t", "policy_data",
                  "--data", R"({"tier":"platinum"})", "--dst-path", "/tls/store"});
  ASSERT_EQ(pub.exit_code, 0) << pub.output << all_logs();
  auto store_doc = [&](const std::string& base) {
    return json::parse(http_get(base + "/v1/data/tls/store", certs.ca_cert, certs.client_cert,
                                certs.client_key)
                           .body,
                       nullptr, false);
  };
  ASSERT_TRUE(poll_until(
      [&] {
        auto j = store_doc(good_url);
        return j.is_object() && j.contains("result") && j["result"] == json{{"tier", "platinum"}};
      },
      20000ms))
      << store_doc(good_url).dump() << all_logs();
  // Every handshake the agent made succeeded (checked before our own refused one below).
  EXPECT_EQ(good_store.log().find("TLS handshake failed"), std::string::npos)
      << good_store.log();
  // Without a client certificate we are refused too (no status at all), so the hop is really mTLS.
  EXPECT_EQ(http_get(good_url + "/v1/data/tls/store", certs.ca_cert).status, 0);

  // The agent without a client certificate: the stand-in refuses its handshake, the agent says
  // the engine is unreachable, never gets ready, and never retries in plaintext.
  ASSERT_TRUE(poll_until(
      [&] {
        return bad_store.log().find("TLS handshake failed: peer did not return a certificate") !=
                   std::string::npos &&
               bad_agent.log().find("policy engine not reachable") != std::string::npos;
      },
      20000ms))
      << bad_store.log() << bad_agent.log();
  auto status = json::parse(http_get(bad_api + "/status").body, nullptr, false);
  ASSERT_TRUE(status.is_object()) << bad_agent.log();
  EXPECT_EQ(status["engine"]["reachable"], false) << status.dump();
  EXPECT_NE(http_get(bad_api + "/ready").status, 200);
  EXPECT_FALSE(store_doc(bad_url).contains("result")) << store_doc(bad_url).dump();
  const std::string bad_store_log = bad_store.log();
  EXPECT_EQ(bad_store_log.find("http request"), std::string::npos)  // a plaintext attempt
      << bad_store_log;
  EXPECT_EQ(bad_store_log.find("PUT "), std::string::npos) << bad_store_log;

  // Paths may be logged; key material and tokens never.
  std::ifstream key_in(certs.client_key);
  const std::string key_pem{std::istreambuf_iterator<char>(key_in),
                            std::istreambuf_iterator<char>()};
  const auto nl = key_pem.find('\n');
  ASSERT_NE(nl, std::string::npos);
  const std::string logs = all_logs();
  EXPECT_EQ(logs.find(key_pem.substr(nl + 1, 40)), std::string::npos) << "key material leaked";
  for (const auto& t : {master, client_token, ds_token}) {
    EXPECT_EQ(logs.find(t), std::string::npos) << "a token leaked into the logs";
  }
}

}  // namespace
}  // namespace pdl::test
