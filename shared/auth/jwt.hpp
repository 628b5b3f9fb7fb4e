#pragma once
// JWTs as OPAL issues them: RS256, claims iat/exp/aud/iss/sub/peer_type (+ permitted_topics),
// plus a `kid` header so keys can rotate. Verification accepts RS256 only ("none", HS256 and
// every other alg are refused before any key is touched).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "shared/auth/keys.hpp"

namespace pdl::auth {

enum class peer_type { client, datasource, listener };
std::string_view to_string(peer_type t);
std::optional<peer_type> parse_peer_type(std::string_view s);

inline constexpr std::string_view default_audience = "https://api.opal.ac/v1/";
inline constexpr std::string_view default_issuer = "https://opal.ac/";

using clock_fn = std::function<std::chrono::system_clock::time_point()>;

class jwt_signer {
 public:
  jwt_signer(rsa_key key, std::string issuer, std::string audience);
  /** Header {"alg":"RS256","typ":"JWT","kid":...}; the claims as given. */
  std::string sign(const nlohmann::json& claims) const;
  const rsa_key& key() const noexcept { return key_; }
  const std::string& issuer() const noexcept { return issuer_; }
  const std::string& audience() const noexcept { return audience_; }

 private:
  rsa_key key_;
  std::string issuer_;
  std::string audience_;
};

/** Why a token was refused. The message never contains the token. */
struct verify_error {
  enum class code { malformed, bad_alg, unknown_kid, bad_signature, expired, not_yet_valid,
                    bad_audience, bad_issuer, bad_subject, bad_claims };
  code what;
  std::string message;
};

struct verified_token {
  nlohmann::json claims;
  std::optional<peer_type> peer;                          // from "peer_type"
  std::optional<std::vector<std::string>> permitted_topics;
  std::string subject;
};

class jwt_verifier {
 public:
  /** @param keys public keys accepted; a token's kid selects one (no kid: try each). */
  jwt_verifier(std::vector<rsa_key> keys, std::string issuer, std::string audience,
               clock_fn now = std::chrono::system_clock::now);
  /** Checks: 3 base64url parts; header alg == RS256; signature; exp (required), nbf, iat sanity;
   *  aud and iss equal to ours; sub present (a UUID, with or without dashes, as OPAL requires);
   *  peer_type (when present) one of client|datasource|listener; permitted_topics (when present)
   *  a list of strings. Max token length 16 KiB. */
  std::variant<verified_token, verify_error> verify(std::string_view token) const;

 private:
  std::vector<rsa_key> keys_;
  std::string issuer_;
  std::string audience_;
  clock_fn now_;
};

/** Constant-time comparison (for the master token). */
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace pdl::auth
