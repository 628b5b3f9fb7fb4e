#include "shared/config/agent_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/config/config_error.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/unit/shared/config/config_problems.hpp"
#include "tests/unit/shared/config/yaml_file.hpp"

namespace pdl::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class agent_tls_config : public test::certs_suite {
 protected:
  static std::vector<std::string> problems(const std::string& yaml, const env_map& env = {}) {
    test::yaml_file f(yaml);
    return test::problems_when_loading(load_agent_config, f.path(), env);
  }
};

TEST_F(agent_tls_config, yaml_sets_both_hops) {
  test::yaml_file f("tls: {ca_file: " + certs_->ca_cert + ", client_cert: " +
                    certs_->client_cert + ", client_key: " + certs_->client_key + "}\n" +
                    "policy_store: {url: 'https://opa:8181', auth_type: tls, tls_ca: " +
                    certs_->ca_cert + ", tls_client_cert: " + certs_->client_cert +
                    ", tls_client_key: " + certs_->client_key + "}\n");
  auto c = load_agent_config(f.path(), {});
  EXPECT_EQ(c.tls.ca_file, certs_->ca_cert);
  EXPECT_EQ(c.tls.cert_file, certs_->client_cert);
  EXPECT_EQ(c.tls.key_file, certs_->client_key);
  EXPECT_EQ(c.policy_store_tls.ca_file, certs_->ca_cert);
  EXPECT_EQ(c.policy_store_auth_type, "tls");
}

TEST_F(agent_tls_config, opal_environment_names_are_read) {
  env_map env{{"OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE", certs_->ca_cert},
              {"OPAL_CLIENT_SELF_SIGNED_CERTIFICATES_ALLOWED", "true"},
              {"OPAL_CLIENT_TLS_CLIENT_CERT", certs_->client_cert},
              {"OPAL_CLIENT_TLS_CLIENT_KEY", certs_->client_key},
              {"OPAL_POLICY_STORE_TLS_CA", certs_->other_ca_cert}};
  test::yaml_file f("");
  auto c = load_agent_config(f.path(), env);
  EXPECT_EQ(c.tls.ca_file, certs_->ca_cert);
  EXPECT_EQ(c.tls.key_file, certs_->client_key);
  EXPECT_EQ(c.policy_store_tls.ca_file, certs_->other_ca_cert);
  env["OPAL_CLIENT_SELF_SIGNED_CERTIFICATES_ALLOWED"] = "maybe";
  EXPECT_THAT(problems("", env),
              ElementsAre(HasSubstr("env OPAL_CLIENT_SELF_SIGNED_CERTIFICATES_ALLOWED")));
}

TEST_F(agent_tls_config, bad_files_are_named_by_their_key_or_variable) {
  EXPECT_THAT(problems("tls: {ca_file: " + dir_->file("none.pem") + "}\n"),
              ElementsAre(HasSubstr("tls.ca_file: cannot read CA file")));
  EXPECT_THAT(problems("tls: {client_cert: " + certs_->client_cert + "}\n"),
              ElementsAre(HasSubstr("tls.client_key: a certificate is set but no private key")));
  EXPECT_THAT(problems("", {{"OPAL_POLICY_STORE_TLS_CLIENT_CERT", certs_->client_cert},
                            {"OPAL_POLICY_STORE_TLS_CLIENT_KEY", certs_->other_key}}),
              ElementsAre(HasSubstr("env OPAL_POLICY_STORE_TLS_CLIENT_KEY: the private key")));
}

TEST_F(agent_tls_config, auth_type_tls_needs_a_client_certificate) {
  EXPECT_THAT(problems("policy_store: {auth_type: tls}\n"),
              ElementsAre(HasSubstr("policy_store.tls_client_cert: auth_type is tls")));
}

}  // namespace
}  // namespace pdl::config
