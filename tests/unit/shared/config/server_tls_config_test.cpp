#include "shared/config/server_config.hpp"

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

class server_tls_config : public test::certs_suite {
 protected:
  static std::vector<std::string> problems(const std::string& yaml, const env_map& env = {}) {
    test::yaml_file f(yaml);
    return test::problems_when_loading(load_server_config, f.path(), env);
  }
  static std::string tls_yaml(const std::string& cert, const std::string& key,
                              const std::string& ca = "") {
    std::string y = "server:\n  tls:\n";
    if (!cert.empty()) y += "    cert_file: " + cert + "\n";
    if (!key.empty()) y += "    key_file: " + key + "\n";
    if (!ca.empty()) y += "    client_ca_file: " + ca + "\n";
    return y;
  }
};

TEST_F(server_tls_config, a_matching_pair_and_a_client_ca_load) {
  EXPECT_THAT(problems(tls_yaml(certs_->server_cert, certs_->server_key, certs_->ca_cert)),
              IsEmpty());
  test::yaml_file f(tls_yaml(certs_->server_cert, certs_->server_key));
  auto c = load_server_config(f.path(), {});
  EXPECT_EQ(c.tls.cert_file, certs_->server_cert);
  EXPECT_EQ(c.tls.key_file, certs_->server_key);
  EXPECT_TRUE(c.tls.client_ca_file.empty());
}

TEST_F(server_tls_config, a_certificate_without_a_key_is_refused) {
  EXPECT_THAT(problems(tls_yaml(certs_->server_cert, "")),
              ElementsAre(HasSubstr("server.tls.key_file: a certificate is set but no private key")));
}

TEST_F(server_tls_config, a_key_without_a_certificate_is_refused) {
  EXPECT_THAT(problems(tls_yaml("", certs_->server_key)),
              ElementsAre(HasSubstr("server.tls.cert_file: a private key is set but no certificate")));
}

TEST_F(server_tls_config, an_unreadable_file_is_named) {
  EXPECT_THAT(problems(tls_yaml(dir_->file("missing.crt"), certs_->server_key)),
              ElementsAre(AllOf(HasSubstr("server.tls.cert_file: cannot read certificate file"),
                                HasSubstr("missing.crt"), HasSubstr("No such file"))));
  EXPECT_THAT(problems(tls_yaml(certs_->server_cert, certs_->server_key, dir_->file("nope.pem"))),
              ElementsAre(HasSubstr("server.tls.client_ca_file: cannot read CA file")));
}

TEST_F(server_tls_config, a_key_that_does_not_match_the_certificate_is_refused) {
  EXPECT_THAT(problems(tls_yaml(certs_->server_cert, certs_->other_key)),
              ElementsAre(HasSubstr("server.tls.key_file: the private key")));
  EXPECT_THAT(problems(tls_yaml(certs_->server_cert, certs_->other_key)),
              ElementsAre(HasSubstr("does not match the certificate")));
}

TEST_F(server_tls_config, a_key_in_place_of_the_certificate_is_refused) {
  EXPECT_THAT(problems(tls_yaml(certs_->server_key, certs_->server_key)),
              ElementsAre(HasSubstr("is not a PEM certificate")));
}

TEST_F(server_tls_config, a_client_ca_without_a_certificate_is_refused) {
  EXPECT_THAT(problems(tls_yaml("", "", certs_->ca_cert)),
              ElementsAre(HasSubstr("server.tls.client_ca_file: a client CA needs TLS")));
}

TEST_F(server_tls_config, environment_variables_set_and_are_named) {
  env_map env{{"OPAL_SERVER_TLS_CERT_FILE", certs_->server_cert},
              {"OPAL_SERVER_TLS_KEY_FILE", certs_->other_key}};
  EXPECT_THAT(problems("", env),
              ElementsAre(HasSubstr("env OPAL_SERVER_TLS_KEY_FILE: the private key")));
  env["OPAL_SERVER_TLS_KEY_FILE"] = certs_->server_key;
  env["OPAL_SERVER_TLS_CLIENT_CA_FILE"] = certs_->ca_cert;
  auto c = load_server_config("", env);
  EXPECT_EQ(c.tls.client_ca_file, certs_->ca_cert);
}

}  // namespace
}  // namespace pdl::config
