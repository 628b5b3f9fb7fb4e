#include "server/config_printer.hpp"

#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "shared/config/server_config.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"

namespace pdl::server {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string master = "printer-test-master-token-0123456789";

TEST(config_printer, ShowsTlsPathsAndMtlsButNoKeyMaterialOrSecret) {
  pdl::test::temp_dir dir;
  const auto certs = pdl::test::test_certs::generate(dir.path());
  auto cfg = config::load_server_config("", {{"OPAL_AUTH_MASTER_TOKEN", master},
                                             {"OPAL_SERVER_TLS_CERT_FILE", certs.server_cert},
                                             {"OPAL_SERVER_TLS_KEY_FILE", certs.server_key},
                                             {"OPAL_SERVER_TLS_CLIENT_CA_FILE", certs.ca_cert}});
  auto doc = effective_config(cfg);
  const auto& tls = doc["server"]["tls"];
  EXPECT_EQ(tls["enabled"], true);
  EXPECT_EQ(tls["mtls"], true);
  EXPECT_EQ(tls["cert_file"], certs.server_cert);
  EXPECT_EQ(tls["key_file"], certs.server_key);
  EXPECT_EQ(tls["client_ca_file"], certs.ca_cert);

  const std::string yaml = to_yaml(doc);
  const std::string json_text = doc.dump(2);
  EXPECT_NE(yaml.find("mtls: true"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("cert_file: \"" + certs.server_cert + "\""), std::string::npos) << yaml;
  for (const auto* text : {&yaml, &json_text}) {
    EXPECT_NE(text->find(certs.server_key), std::string::npos) << *text;
    EXPECT_EQ(text->find(master), std::string::npos) << "the master token leaked";
    EXPECT_EQ(text->find("PRIVATE KEY"), std::string::npos) << "key material leaked";
    EXPECT_EQ(text->find("BEGIN CERTIFICATE"), std::string::npos);
  }
  // The key's body (its second line) never appears either.
  const std::string key_pem = read_file(certs.server_key);
  const auto nl = key_pem.find('\n');
  ASSERT_NE(nl, std::string::npos);
  const std::string key_line = key_pem.substr(nl + 1, 40);
  EXPECT_EQ(yaml.find(key_line), std::string::npos);
}

TEST(config_printer, PlaintextServerShowsTlsOffWithNullPaths) {
  auto cfg = config::load_server_config("", {{"OPAL_AUTH_MASTER_TOKEN", master}});
  auto tls = effective_config(cfg)["server"]["tls"];
  EXPECT_EQ(tls["enabled"], false);
  EXPECT_EQ(tls["mtls"], false);
  EXPECT_TRUE(tls["cert_file"].is_null());
  EXPECT_TRUE(tls["key_file"].is_null());
  EXPECT_TRUE(tls["client_ca_file"].is_null());
}

TEST(config_printer, TlsWithoutClientCaIsNotMtls) {
  pdl::test::temp_dir dir;
  const auto certs = pdl::test::test_certs::generate(dir.path());
  auto cfg = config::load_server_config("", {{"OPAL_SERVER_TLS_CERT_FILE", certs.server_cert},
                                             {"OPAL_SERVER_TLS_KEY_FILE", certs.server_key}});
  auto tls = effective_config(cfg)["server"]["tls"];
  EXPECT_EQ(tls["enabled"], true);
  EXPECT_EQ(tls["mtls"], false);
}

TEST(config_printer, ShowsTheRedisAddressButNotItsPassword) {
  auto cfg = config::load_server_config(
      "", {{"OPAL_BROADCAST_URI", "redis://app:redis-pass-1234@redis.svc:6380/2"}});
  auto doc = effective_config(cfg);
  EXPECT_EQ(doc["broadcast"]["uri"], "redis://app:<redacted>@redis.svc:6380/2");
  EXPECT_EQ(doc["broadcast"]["key_prefix"], "pdl");
  EXPECT_EQ(to_yaml(doc).find("redis-pass-1234"), std::string::npos);
  EXPECT_TRUE(effective_config(config::load_server_config("", {}))["broadcast"]["uri"].is_null());
}

TEST(config_printer, ShowsTheSentinelsMasterAndMinReplicasButNotThePassword) {
  auto cfg = config::load_server_config(
      "", {{"OPAL_BROADCAST_URI",
            "redis-sentinel://:redis-pass-1234@s0.redis:26379,s1.redis/1#pdl-primary"},
           {"OPAL_BROADCAST_MIN_REPLICAS", "1"}});
  auto doc = effective_config(cfg);
  EXPECT_EQ(doc["broadcast"]["uri"],
            "redis-sentinel://:<redacted>@s0.redis:26379,s1.redis:26379/1#pdl-primary");
  EXPECT_EQ(doc["broadcast"]["min_replicas"], 1);
  EXPECT_EQ(doc["broadcast"]["min_replicas_timeout_ms"], 1000);
  EXPECT_EQ(to_yaml(doc).find("redis-pass-1234"), std::string::npos);
}

}  // namespace
}  // namespace pdl::server
