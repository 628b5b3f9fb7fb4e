#pragma once
// Shared by the server unit tests: an in-process server on port 0 with a PEM key pair made
// here, HTTP helpers over pdl::http_client, and hand-made tokens (good and bad).
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "server/server.hpp"
#include "server/server_context.hpp"
#include "shared/auth/jwt.hpp"
#include "shared/auth/keys.hpp"
#include "shared/http/client.hpp"

namespace pdl::server::testing {

struct pem_pair {
  std::string private_pem;
  std::string public_pem;
};

inline pem_pair make_pem_pair() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  auto to_string = [](BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return s;
  };
  BIO* priv = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(pub, key);
  pem_pair out{to_string(priv), to_string(pub)};
  EVP_PKEY_free(key);
  return out;
}

inline const std::string master_token = "test-master-token-0123456789";

inline config::server_config test_config(const pem_pair& keys) {
  config::server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.threads = 2;
  cfg.master_token = secret(master_token);
  cfg.private_key = secret(keys.private_pem);
  cfg.private_key_format = auth::key_format::pem;
  cfg.public_key = keys.public_pem;
  cfg.public_key_format = auth::key_format::pem;
  cfg.max_body_bytes = 1024 * 1024;
  cfg.ws_send_queue_max = 8;
  return cfg;
}

struct reply {
  long status = 0;
  std::string body;
  http_client::response raw;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

inline reply call(std::uint16_t port, const std::string& method, const std::string& path,
                  const std::string& token = "", std::optional<std::string> body = std::nullopt,
                  const std::string& scheme = "Bearer") {
  http_client::request req;
  req.method = method;
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  if (!token.empty()) {
    req.headers.emplace_back("Authorization", secret(scheme + " " + token));
  }
  if (body) {
    req.headers.emplace_back("Content-Type", secret("application/json"));
    req.body = std::move(body);
  }
  auto result = http_client::perform(req);
  if (auto* err = std::get_if<http_client::transport_error>(&result)) {
    throw std::runtime_error("transport error: " + err->message);
  }
  auto& res = std::get<http_client::response>(result);
  return reply{res.status, res.body, res};
}

/** A token from POST /token. */
inline std::string mint(std::uint16_t port, const std::string& type,
                        nlohmann::json claims = nlohmann::json::object()) {
  nlohmann::json body = {{"type", type}, {"claims", claims}};
  auto r = call(port, "POST", "/token", master_token, body.dump());
  if (r.status != 200) {
    throw std::runtime_error("mint failed: " + r.body);
  }
  return r.json()["token"].get<std::string>();
}

inline nlohmann::json standard_claims(std::chrono::seconds from_now) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return {{"iat", now - 10},
          {"exp", now + from_now.count()},
          {"aud", std::string(auth::default_audience)},
          {"iss", std::string(auth::default_issuer)},
          {"sub", "2d3039cc92a34c34a63661b3a319b087"},
          {"peer_type", "datasource"}};
}

inline std::string b64(const std::string& s) { return auth::base64url_encode(s); }

/** header.claims.signature with an arbitrary header and an HMAC-SHA256 over @p key. */
inline std::string hs256_token(const nlohmann::json& claims, const std::string& key) {
  std::string input = b64(R"({"alg":"HS256","typ":"JWT"})") + "." + b64(claims.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + b64(std::string(reinterpret_cast<char*>(mac), len));
}

inline std::string none_token(const nlohmann::json& claims) {
  return b64(R"({"alg":"none","typ":"JWT"})") + "." + b64(claims.dump()) + ".";
}

/** A valid DataUpdate on @p topics with small inline data. */
inline std::string good_update(const std::vector<std::string>& topics = {"policy_data"},
                               const std::string& data = R"({"x":1})") {
  nlohmann::json entry = {{"url", ""},
                          {"topics", topics},
                          {"dst_path", "/tests/x"},
                          {"save_method", "PUT"},
                          {"data", nlohmann::json::parse(data)}};
  return nlohmann::json{{"entries", {entry}}, {"reason", "unit test"}}.dump();
}

/** One server for a whole test suite (key generation is slow in debug builds). */
struct shared_server {
  pem_pair keys = make_pem_pair();
  std::unique_ptr<server> srv = server::start(test_config(keys));
  std::uint16_t port() const { return srv->port(); }
  server_context& ctx() { return srv->context(); }
};

/** Base of the suites that share one server and a token of each peer type (minted once). */
class server_suite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_ = std::make_unique<shared_server>();
    client_ = std::make_unique<std::string>(mint(s_->port(), "client"));
    datasource_ = std::make_unique<std::string>(mint(s_->port(), "datasource"));
    listener_ = std::make_unique<std::string>(mint(s_->port(), "listener"));
  }
  static void TearDownTestSuite() {
    listener_.reset();
    datasource_.reset();
    client_.reset();
    s_.reset();
  }
  static std::uint16_t port() { return s_->port(); }

  static inline std::unique_ptr<shared_server> s_;
  static inline std::unique_ptr<std::string> client_;
  static inline std::unique_ptr<std::string> datasource_;
  static inline std::unique_ptr<std::string> listener_;
};

}  // namespace pdl::server::testing
