#include "agent/config_printer.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "shared/config/agent_config.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"

namespace pdl::agent {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string client_token = "agent-printer-client-token-0123456789";

TEST(agent_config_printer, ShowsEveryHopsTlsPathsAndMtlsButNoKeyMaterialOrToken) {
  pdl::test::temp_dir dir;
  const auto certs = pdl::test::test_certs::generate(dir.path());
  auto cfg = config::load_agent_config(
      "", {{"OPAL_SERVER_URL", "https://127.0.0.1:7002"},
           {"OPAL_CLIENT_TOKEN", client_token},
           {"OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE", certs.ca_cert},
           {"OPAL_POLICY_STORE_URL", "https://127.0.0.1:8181"},
           {"OPAL_POLICY_STORE_AUTH_TYPE", "tls"},
           {"OPAL_POLICY_STORE_TLS_CA", certs.ca_cert},
           {"OPAL_POLICY_STORE_TLS_CLIENT_CERT", certs.client_cert},
           {"OPAL_POLICY_STORE_TLS_CLIENT_KEY", certs.client_key}});
  auto doc = effective_config(cfg);
  const auto& store = doc["policy_store"];
  EXPECT_EQ(store["auth_type"], "tls");
  EXPECT_EQ(store["tls_enabled"], true);
  EXPECT_EQ(store["mtls"], true);
  EXPECT_EQ(store["tls_ca"], certs.ca_cert);
  EXPECT_EQ(store["tls_client_cert"], certs.client_cert);
  EXPECT_EQ(store["tls_client_key"], certs.client_key);
  const auto& tls = doc["tls"];
  EXPECT_EQ(tls["enabled"], true);
  EXPECT_EQ(tls["ca_file"], certs.ca_cert);
  EXPECT_EQ(tls["mtls"], false);  // no client certificate on the server hop
  EXPECT_EQ(doc["server"]["token"], "<redacted>");

  const std::string text = doc.dump(2);
  EXPECT_EQ(text.find(client_token), std::string::npos) << "the client token leaked";
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos) << "key material leaked";
  EXPECT_EQ(text.find("BEGIN CERTIFICATE"), std::string::npos);
  const std::string key_pem = read_file(certs.client_key);
  const auto nl = key_pem.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(text.find(key_pem.substr(nl + 1, 40)), std::string::npos);
}

TEST(agent_config_printer, ServerHopMtlsAndPlaintextStore) {
  pdl::test::temp_dir dir;
  const auto certs = pdl::test::test_certs::generate(dir.path());
  auto cfg = config::load_agent_config(
      "", {{"OPAL_SERVER_URL", "https://127.0.0.1:7002"},
           {"OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE", certs.ca_cert},
           {"OPAL_CLIENT_TLS_CLIENT_CERT", certs.client_cert},
           {"OPAL_CLIENT_TLS_CLIENT_KEY", certs.client_key},
           {"OPAL_POLICY_STORE_URL", "http://127.0.0.1:8181"}});
  auto doc = effective_config(cfg);
  EXPECT_EQ(doc["tls"]["mtls"], true);
  EXPECT_EQ(doc["tls"]["client_cert"], certs.client_cert);
  EXPECT_EQ(doc["tls"]["client_key"], certs.client_key);
  EXPECT_EQ(doc["policy_store"]["tls_enabled"], false);
  EXPECT_EQ(doc["policy_store"]["mtls"], false);
  EXPECT_EQ(doc["policy_store"]["tls_client_key"], "");
}

TEST(agent_config_printer, ShowsTheSourceRulesAndTheOnesTheAgentAdds) {
  auto cfg = config::load_agent_config(
      "", {{"OPAL_POLICY_STORE_URL", "http://localhost:18181"},
           {"OPAL_CLIENT_API_SERVER_PORT", "17000"},
           {"OPAL_FETCH_DENY", "10.0.0.0/8"},
           {"OPAL_FETCH_ALLOW", "https://api.example.com/v1/"}});
  const auto fetch = effective_config(cfg)["fetch"];
  EXPECT_EQ(fetch["deny"], nlohmann::json::array({"10.0.0.0/8"}));
  EXPECT_EQ(fetch["allow"], nlohmann::json::array({"https://api.example.com/v1/"}));
  const auto& rules = fetch["effective_rules"];
  const auto has = [&rules](const std::string& line) {
    return std::find(rules.begin(), rules.end(), line) != rules.end();
  };
  EXPECT_TRUE(has("deny 169.254.0.0/16 (default: link-local; cloud metadata at 169.254.169.254)"))
      << rules.dump(2);
  EXPECT_TRUE(has("deny 127.0.0.0/8:18181 (default: the agent's policy store)")) << rules.dump(2);
  EXPECT_TRUE(has("deny localhost:18181 (default: the agent's policy store)")) << rules.dump(2);
  EXPECT_TRUE(has("deny 127.0.0.1:17000 (default: the agent's API)")) << rules.dump(2);
  EXPECT_TRUE(has("deny 10.0.0.0/8 (fetch.deny)")) << rules.dump(2);
  EXPECT_EQ(rules.back(), "allow https://api.example.com/v1/ (fetch.allow)");
}

}  // namespace
}  // namespace pdl::agent
