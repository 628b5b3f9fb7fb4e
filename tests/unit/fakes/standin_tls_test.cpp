#include "tests/fakes/opa_standin/standin_flags.hpp"

#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "shared/http/client.hpp"
#include "shared/log/log.hpp"
#include "tests/fakes/opa_standin/loopback_server.hpp"
#include "tests/fakes/opa_standin/opa_emulator.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"

namespace pdl::fakes {
namespace {

using args = std::vector<std::string>;

std::string flag_failure(const args& a) {
  try {
    parse_standin_flags(a);
  } catch (const flag_error& e) {
    return e.what();
  }
  return "";
}

TEST(standin_flags, DefaultsAndExistingFlagsStayAsTheyWere) {
  auto f = parse_standin_flags({});
  EXPECT_EQ(f.addr, "127.0.0.1:0");
  EXPECT_FALSE(f.tls_enabled());
  EXPECT_FALSE(f.mtls());
  f = parse_standin_flags({"--addr", "127.0.0.1:8181", "--port-file", "/tmp/p", "--fail-writes",
                           "3", "--log-level", "warn"});
  EXPECT_EQ(f.addr, "127.0.0.1:8181");
  EXPECT_EQ(f.port_file, "/tmp/p");
  EXPECT_EQ(f.fail_writes, 3u);
  EXPECT_EQ(f.log_level, "warn");
}

TEST(standin_flags, DiscardDataUnderNeedsAPathBelowTheRoot) {
  EXPECT_EQ(parse_standin_flags({"--discard-data-under", "/bench"}).discard_data_under, "/bench");
  EXPECT_EQ(parse_standin_flags({"--discard-data-under=/a/b"}).discard_data_under, "/a/b");
  for (const char* bad : {"/", "bench", "/bench/", ""}) {
    EXPECT_NE(flag_failure({"--discard-data-under", bad}).find("--discard-data-under"),
              std::string::npos)
        << bad;
  }
}

TEST(standin_flags, ReadBufferBytesIsABoundedCount) {
  EXPECT_EQ(parse_standin_flags({}).read_buffer_bytes, 0u);
  EXPECT_EQ(parse_standin_flags({"--read-buffer-bytes", "262144"}).read_buffer_bytes, 262144u);
  EXPECT_NE(flag_failure({"--read-buffer-bytes", "-1"}), "");
  EXPECT_NE(flag_failure({"--read-buffer-bytes", std::to_string(max_read_buffer_bytes + 1)}), "");
}

TEST(standin_flags, AcceptsOpasTlsFlagsInBothForms) {
  auto f = parse_standin_flags({"--tls-cert-file=/c.pem", "--tls-private-key-file", "/k.pem",
                                "--tls-ca-cert-file", "/ca.pem", "--authentication=tls"});
  EXPECT_EQ(f.tls_cert_file, "/c.pem");
  EXPECT_EQ(f.tls_private_key_file, "/k.pem");
  EXPECT_EQ(f.tls_ca_cert_file, "/ca.pem");
  EXPECT_TRUE(f.tls_enabled());
  EXPECT_TRUE(f.mtls());
}

TEST(standin_flags, RefusesIncompleteOrUnknownTlsSettingsNamingTheFlag) {
  EXPECT_EQ(flag_failure({"--tls-cert-file", "/c.pem"}),
            "--tls-cert-file needs --tls-private-key-file");
  EXPECT_EQ(flag_failure({"--tls-private-key-file", "/k.pem"}),
            "--tls-private-key-file needs --tls-cert-file");
  EXPECT_EQ(flag_failure({"--authentication=tls", "--tls-ca-cert-file", "/ca.pem"}),
            "--authentication=tls needs --tls-cert-file and --tls-private-key-file");
  EXPECT_NE(flag_failure({"--tls-cert-file", "/c", "--tls-private-key-file", "/k",
                          "--authentication", "tls"})
                .find("--authentication=tls needs --tls-ca-cert-file"),
            std::string::npos);
  EXPECT_EQ(flag_failure({"--authentication", "token"}),
            "--authentication=token is not emulated (only off and tls)");
  EXPECT_EQ(flag_failure({"--authentication", "basic"}),
            "--authentication must be off or tls, got 'basic'");
  EXPECT_EQ(flag_failure({"--tls-cert-file"}), "--tls-cert-file needs a value");
  EXPECT_EQ(flag_failure({"--fail-writes", "-1"}),
            "--fail-writes needs a non-negative integer, got '-1'");
  EXPECT_EQ(flag_failure({"--tls-certfile", "x"}), "unknown argument '--tls-certfile'");
  EXPECT_NE(flag_failure({"--tls-cert-file", std::string(max_flag_value + 1, 'a')})
                .find("longer than"),
            std::string::npos);
}

TEST(standin_flags, UnusableFilesAreNamedByTheirFlagWithoutContents) {
  pdl::test::temp_dir dir;
  const auto certs = pdl::test::test_certs::generate(dir.path());
  standin_flags f;
  f.tls_cert_file = certs.server_cert;
  f.tls_private_key_file = certs.other_key;  // does not match
  try {
    standin_tls_context(f);
    FAIL() << "a mismatched key was accepted";
  } catch (const flag_error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("--tls-private-key-file: ", 0), 0u) << msg;
    EXPECT_EQ(msg.find("PRIVATE KEY-----"), std::string::npos) << msg;
  }
  f.tls_private_key_file = certs.server_key;
  f.tls_ca_cert_file = dir.file("missing-ca.pem");
  f.authentication = "tls";
  try {
    standin_tls_context(f);
    FAIL() << "a missing CA file was accepted";
  } catch (const flag_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--tls-ca-cert-file: ", 0), 0u) << e.what();
  }
  // Like OPA, the CA file is not used (so not read) without --authentication=tls.
  f.authentication = "off";
  EXPECT_TRUE(standin_tls_context(f).has_value());
  EXPECT_FALSE(standin_tls_context(standin_flags{}).has_value());
}

// The stand-in's server over TLS, answered by the emulator, on its own thread.
class standin_https : public ::testing::Test {
 protected:
  void SetUp() override {
    pdl::log::init("warn");
    certs_ = pdl::test::test_certs::generate(dir_.path());
  }
  void serve(const std::vector<std::string>& tls_args) {
    auto flags = parse_standin_flags(tls_args);
    loopback_server::options opts;
    opts.logger = "test.standin.tls";
    opts.tls = standin_tls_context(flags);
    server_ = loopback_server::create(opts, [this](const http_request& r) {
      return emulator_.handle(r);
    });
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) {
      server_->stop();
      thread_.join();
    }
  }
  std::vector<std::string> server_args(bool mtls) const {
    std::vector<std::string> a{"--tls-cert-file", certs_.server_cert, "--tls-private-key-file",
                               certs_.server_key};
    if (mtls) {
      a.insert(a.end(), {"--tls-ca-cert-file", certs_.ca_cert, "--authentication=tls"});
    }
    return a;
  }
  std::variant<http_client::response, http_client::transport_error> put(
      const std::string& scheme, const tls::client_files& files) {
    http_client::request req;
    req.method = "PUT";
    req.url = scheme + "://127.0.0.1:" + std::to_string(server_->port()) + "/v1/data/tls/x";
    req.body = R"({"tier":"gold"})";
    req.headers.emplace_back("Content-Type", secret("application/json"));
    http_client::use_tls(req, files);
    return http_client::perform(req);
  }
  long status_of(const std::variant<http_client::response, http_client::transport_error>& r) {
    auto* ok = std::get_if<http_client::response>(&r);
    return ok == nullptr ? 0 : ok->status;
  }

  pdl::test::temp_dir dir_;
  pdl::test::test_certs certs_;
  opa_emulator emulator_;
  std::unique_ptr<loopback_server> server_;
  std::thread thread_;
};

TEST_F(standin_https, ServesHttpsToAClientThatTrustsTheCa) {
  serve(server_args(false));
  EXPECT_EQ(status_of(put("https", {certs_.ca_cert, "", ""})), 204);
  EXPECT_EQ(emulator_.writes().size(), 1u);
}

TEST_F(standin_https, RefusesPlaintextWhenTlsIsOn) {
  serve(server_args(false));
  EXPECT_NE(status_of(put("http", {})), 204);
  // The server goes on serving TLS clients after a plaintext one.
  EXPECT_EQ(status_of(put("https", {certs_.ca_cert, "", ""})), 204);
  EXPECT_EQ(emulator_.writes().size(), 1u);
}

TEST_F(standin_https, MutualTlsNeedsAClientCertificateSignedByTheCa) {
  serve(server_args(true));
  auto none = put("https", {certs_.ca_cert, "", ""});
  ASSERT_TRUE(std::holds_alternative<http_client::transport_error>(none))
      << "a client without a certificate got status " << status_of(none);
  EXPECT_TRUE(emulator_.writes().empty());

  // A certificate the CA did not sign (the unrelated CA's own, with its key) is refused too.
  auto foreign = put("https", {certs_.ca_cert, certs_.other_ca_cert, dir_.file("other-ca.key")});
  EXPECT_TRUE(std::holds_alternative<http_client::transport_error>(foreign))
      << "a foreign certificate got status " << status_of(foreign);
  EXPECT_TRUE(emulator_.writes().empty());

  auto ok = put("https", {certs_.ca_cert, certs_.client_cert, certs_.client_key});
  EXPECT_EQ(status_of(ok), 204);
  EXPECT_EQ(emulator_.writes().size(), 1u);
}

}  // namespace
}  // namespace pdl::fakes
