#include "server/http_listener.hpp"

#include <gtest/gtest.h>

#include "shared/config/config_error.hpp"
#include "shared/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/unit/server/test_server.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;

/** One TLS server (no client certificates) and one mTLS server, sharing the certificates. */
class tls_server : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::temp_dir();
    certs_ = new test::test_certs(test::test_certs::generate(dir_->path()));
    keys_ = new pem_pair(make_pem_pair());
    auto cfg = test_config(*keys_);
    cfg.tls.cert_file = certs_->server_cert;
    cfg.tls.key_file = certs_->server_key;
    cfg.http_read_timeout = 1s;
    cfg.max_connections = 4;
    srv_ = server::start(cfg).release();
    cfg.tls.client_ca_file = certs_->ca_cert;
    mtls_ = server::start(cfg).release();
  }
  static void TearDownTestSuite() {
    delete srv_;
    delete mtls_;
    delete keys_;
    delete certs_;
    delete dir_;
  }

  static std::variant<http_client::response, http_client::transport_error> get(
      std::uint16_t port, const std::string& scheme, const std::string& ca,
      const std::string& cert = "", const std::string& key = "") {
    http_client::request req;
    req.url = scheme + "://127.0.0.1:" + std::to_string(port) + "/healthcheck";
    req.ca_file = ca;
    req.client_cert = cert;
    req.client_key = key;
    req.idle_timeout = 5s;
    return http_client::perform(req);
  }
  static long status_of(const std::variant<http_client::response, http_client::transport_error>& r) {
    auto* res = std::get_if<http_client::response>(&r);
    return res != nullptr ? res->status : -1;
  }
  static std::string error_of(
      const std::variant<http_client::response, http_client::transport_error>& r) {
    auto* err = std::get_if<http_client::transport_error>(&r);
    return err != nullptr ? err->message : "";
  }

  static test::temp_dir* dir_;
  static test::test_certs* certs_;
  static pem_pair* keys_;
  static server* srv_;
  static server* mtls_;
};
test::temp_dir* tls_server::dir_ = nullptr;
test::test_certs* tls_server::certs_ = nullptr;
pem_pair* tls_server::keys_ = nullptr;
server* tls_server::srv_ = nullptr;
server* tls_server::mtls_ = nullptr;

TEST_F(tls_server, https_with_the_right_ca_works) {
  auto r = get(srv_->port(), "https", certs_->ca_cert);
  EXPECT_EQ(status_of(r), 200) << error_of(r);
}

TEST_F(tls_server, https_with_the_wrong_ca_fails_verification) {
  auto r = get(srv_->port(), "https", certs_->other_ca_cert);
  auto* err = std::get_if<http_client::transport_error>(&r);
  ASSERT_NE(err, nullptr) << "status " << status_of(r);
  EXPECT_EQ(err->what, http_client::transport_error::code::tls);
  EXPECT_NE(err->message.find("certificate"), std::string::npos) << err->message;
}

TEST_F(tls_server, plain_http_to_the_tls_port_fails_and_others_are_still_served) {
  auto plain = get(srv_->port(), "http", "");
  EXPECT_EQ(status_of(plain), -1) << "a plaintext request must not be answered";
  auto r = get(srv_->port(), "https", certs_->ca_cert);
  EXPECT_EQ(status_of(r), 200) << error_of(r);
}

TEST_F(tls_server, a_client_that_never_handshakes_loses_its_slot_to_the_read_timeout) {
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), srv_->port()));
  // Silent: no ClientHello. The server must close it after http_read_timeout (1 s).
  std::array<char, 64> buf{};
  boost::system::error_code ec;
  sock.read_some(net::buffer(buf), ec);  // blocks until the server closes
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  // Slots are freed: more clients than max_connections (4) in sequence all get through.
  for (int i = 0; i < 6; ++i) {
    auto r = get(srv_->port(), "https", certs_->ca_cert);
    ASSERT_EQ(status_of(r), 200) << error_of(r);
  }
}

TEST_F(tls_server, mtls_refuses_a_client_without_a_certificate) {
  auto r = get(mtls_->port(), "https", certs_->ca_cert);
  EXPECT_EQ(status_of(r), -1);
  EXPECT_FALSE(error_of(r).empty());
}

TEST_F(tls_server, mtls_accepts_a_client_with_a_certificate_signed_by_the_client_ca) {
  auto r = get(mtls_->port(), "https", certs_->ca_cert, certs_->client_cert, certs_->client_key);
  EXPECT_EQ(status_of(r), 200) << error_of(r);
}

TEST_F(tls_server, a_key_that_does_not_match_the_certificate_stops_startup) {
  auto cfg = test_config(*keys_);
  cfg.tls.cert_file = certs_->server_cert;
  cfg.tls.key_file = certs_->other_key;
  try {
    server::start(cfg);
    FAIL() << "started with a mismatched key";
  } catch (const config::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pdl::server
