#pragma once
// The server's side of authentication: its key pair, the token signer and verifier, the master
// token, and the checks every route and the WebSocket make.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "shared/auth/jwt.hpp"
#include "shared/config/server_config.hpp"

namespace pdl::server {

/** Who is calling, once their bearer token passed (or auth is disabled). */
struct caller {
  bool auth_disabled = false;
  std::optional<auth::peer_type> peer;
  std::optional<std::vector<std::string>> permitted_topics;  // absent claim: any topic
  std::string subject;                                       // token sub ("" when disabled)

  /** Publishing needs a datasource token (anything goes when auth is disabled). */
  bool may_publish() const { return auth_disabled || peer == auth::peer_type::datasource; }
};

/** A refused request: the HTTP status and the message for {"detail":{"error":...}}. The message
 *  never contains the presented token. */
struct auth_failure {
  int status = 401;
  std::string message;
};

/**
 * Topic permission rule shared by POST /data/config and the WebSocket: a topic is allowed when
 * it equals a permitted topic or lies below one ("billing/eu" is below "billing"). No claim
 * (nullopt) allows everything. @return the first topic that is not allowed, if any.
 */
std::optional<std::string> first_forbidden_topic(
    const std::vector<std::string>& topics,
    const std::optional<std::vector<std::string>>& permitted);

class server_auth {
 public:
  /**
   * Sets up the keys as config says: private+public must match; private alone derives the
   * public key; public alone is refused; none generates an ephemeral pair (WARN).
   * @throws config::config_error naming the setting, never the key material.
   */
  static std::unique_ptr<server_auth> create(const config::server_config& cfg);

  /** The checks of create() without generating anything (for `check-config`).
   *  @throws config::config_error. */
  static void check_keys(const config::server_config& cfg);

  bool enabled() const noexcept { return enabled_; }
  bool ephemeral_keys() const noexcept { return ephemeral_; }
  const auth::jwt_signer& signer() const noexcept { return signer_; }
  /** {"keys":[public JWK]} */
  nlohmann::json jwks() const;

  /** Checks an `Authorization: Bearer <jwt>` header value (scheme case-insensitive). With auth
   *  disabled every check passes. */
  std::variant<caller, auth_failure> check_bearer(std::string_view authorization) const;

  /** POST /token's check. nullopt = allowed; 503 when no master token is configured; 401 when
   *  it is wrong or missing. Constant-time comparison. */
  std::optional<auth_failure> check_master(std::string_view authorization) const;

  server_auth(auth::rsa_key key, bool ephemeral, const config::server_config& cfg);

 private:
  bool enabled_;
  bool ephemeral_;
  secret master_token_;
  auth::jwt_signer signer_;
  auth::jwt_verifier verifier_;
};

/** The token of "Bearer <token>" (scheme case-insensitive), or nullopt. */
std::optional<std::string_view> bearer_token(std::string_view authorization);

}  // namespace pdl::server
