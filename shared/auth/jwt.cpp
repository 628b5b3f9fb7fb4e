// RS256 JWTs: minting and the strict verifier. The verifier decides on the algorithm from the
// header before touching any key, so "none"/HS256 confusion attacks never reach a key.
#include "shared/auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>

#include "shared/auth/openssl_util.hpp"

namespace pdl::auth {
namespace {

constexpr std::size_t max_token_bytes = 16 * 1024;

verify_error fail(verify_error::code c, std::string message) { return {c, std::move(message)}; }

std::optional<nlohmann::json> decode_json_part(std::string_view part) {
  std::string raw;
  try {
    raw = base64url_decode(part);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return std::nullopt;
  }
  return j;
}

/** A NumericDate claim: absent, a number, or a type error. */
struct numeric_date {
  bool present = false;
  bool valid = true;
  double value = 0;
};

numeric_date read_date(const nlohmann::json& claims, const char* name) {
  numeric_date d;
  const auto it = claims.find(name);
  if (it == claims.end()) {
    return d;
  }
  d.present = true;
  if (!it->is_number()) {
    d.valid = false;
    return d;
  }
  d.value = it->get<double>();
  return d;
}

bool audience_matches(const nlohmann::json& aud, const std::string& ours) {
  if (aud.is_string()) {
    return aud.get_ref<const std::string&>() == ours;
  }
  if (aud.is_array()) {
    bool found = false;
    for (const auto& a : aud) {
      if (!a.is_string()) {
        return false;
      }
      found = found || a.get_ref<const std::string&>() == ours;
    }
    return found;
  }
  return false;
}

}  // namespace

std::string_view to_string(peer_type t) {
  switch (t) {
    case peer_type::client:
      return "client";
    case peer_type::datasource:
      return "datasource";
    case peer_type::listener:
      return "listener";
  }
  return "client";
}

std::optional<peer_type> parse_peer_type(std::string_view s) {
  if (s == "client") {
    return peer_type::client;
  }
  if (s == "datasource") {
    return peer_type::datasource;
  }
  if (s == "listener") {
    return peer_type::listener;
  }
  return std::nullopt;
}

jwt_signer::jwt_signer(rsa_key key, std::string issuer, std::string audience)
    : key_(std::move(key)), issuer_(std::move(issuer)), audience_(std::move(audience)) {
  if (!key_.has_private()) {
    throw key_error("the JWT signing key has no private part");
  }
}

std::string jwt_signer::sign(const nlohmann::json& claims) const {
  const nlohmann::json header{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", key_.kid()}};
  std::string input = base64url_encode(header.dump()) + '.' + base64url_encode(claims.dump());
  const std::string sig = key_.sign_rs256(input);
  input += '.';
  input += base64url_encode(sig);
  return input;
}

jwt_verifier::jwt_verifier(std::vector<rsa_key> keys, std::string issuer, std::string audience,
                           clock_fn now)
    : keys_(std::move(keys)),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      now_(std::move(now)) {
  if (!now_) {
    now_ = std::chrono::system_clock::now;
  }
}

std::variant<verified_token, verify_error> jwt_verifier::verify(std::string_view token) const {
  using code = verify_error::code;
  if (token.size() > max_token_bytes) {
    return fail(code::malformed, "token is longer than 16 KiB");
  }
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(code::malformed, "token is not three base64url parts separated by dots");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig_b64 = token.substr(dot2 + 1);

  const auto header = decode_json_part(header_b64);
  if (!header) {
    return fail(code::malformed, "token header is not a base64url JSON object");
  }
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get_ref<const std::string&>() != "RS256") {
    return fail(code::bad_alg, "token algorithm is not RS256 (the only one accepted)");
  }
  if (header->contains("crit")) {
    return fail(code::malformed, "token has critical header parameters, which are not supported");
  }
  if (payload_b64.empty() || sig_b64.empty()) {
    return fail(code::malformed, "token has an empty payload or signature");
  }
  std::string signature;
  try {
    signature = base64url_decode(sig_b64);
  } catch (const std::invalid_argument&) {
    return fail(code::malformed, "token signature is not base64url");
  }

  const std::string_view signed_part = token.substr(0, dot2);
  if (const auto kid = header->find("kid"); kid != header->end()) {
    if (!kid->is_string()) {
      return fail(code::malformed, "token header kid is not a string");
    }
    const auto key = std::find_if(keys_.begin(), keys_.end(), [&](const rsa_key& k) {
      return k.kid() == kid->get_ref<const std::string&>();
    });
    if (key == keys_.end()) {
      return fail(code::unknown_kid, "token was signed with a key we do not know (kid)");
    }
    if (!key->verify_rs256(signed_part, signature)) {
      return fail(code::bad_signature, "token signature does not verify");
    }
  } else {
    if (keys_.empty()) {
      return fail(code::unknown_kid, "no verification keys are configured");
    }
    const bool any = std::any_of(keys_.begin(), keys_.end(), [&](const rsa_key& k) {
      return k.verify_rs256(signed_part, signature);
    });
    if (!any) {
      return fail(code::bad_signature, "token signature does not verify");
    }
  }

  auto claims = decode_json_part(payload_b64);
  if (!claims) {
    return fail(code::malformed, "token payload is not a base64url JSON object");
  }
  const double now = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(now_().time_since_epoch()).count());

  const numeric_date exp = read_date(*claims, "exp");
  if (!exp.present) {
    return fail(code::bad_claims, "token has no exp claim");
  }
  if (!exp.valid) {
    return fail(code::bad_claims, "token exp claim is not a number");
  }
  if (exp.value <= now) {
    return fail(code::expired, "token has expired");
  }
  const numeric_date nbf = read_date(*claims, "nbf");
  if (!nbf.valid) {
    return fail(code::bad_claims, "token nbf claim is not a number");
  }
  if (nbf.present && nbf.value > now) {
    return fail(code::not_yet_valid, "token is not valid yet (nbf)");
  }
  const numeric_date iat = read_date(*claims, "iat");
  if (!iat.valid) {
    return fail(code::bad_claims, "token iat claim is not a number");
  }
  if (iat.present && iat.value > now) {
    return fail(code::not_yet_valid, "token was issued in the future (iat)");
  }

  const auto aud = claims->find("aud");
  if (aud == claims->end() || !audience_matches(*aud, audience_)) {
    return fail(code::bad_audience, "token audience is not ours");
  }
  const auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string() || iss->get_ref<const std::string&>() != issuer_) {
    return fail(code::bad_issuer, "token issuer is not ours");
  }
  const auto sub = claims->find("sub");
  if (sub == claims->end() || !sub->is_string() ||
      !detail::uuid_hex32(sub->get_ref<const std::string&>())) {
    return fail(code::bad_subject, "token subject (sub) is missing or not a UUID");
  }

  verified_token out;
  out.subject = sub->get<std::string>();
  if (const auto pt = claims->find("peer_type"); pt != claims->end()) {
    if (!pt->is_string()) {
      return fail(code::bad_claims, "token peer_type is not a string");
    }
    out.peer = parse_peer_type(pt->get_ref<const std::string&>());
    if (!out.peer) {
      return fail(code::bad_claims, "token peer_type is not client, datasource or listener");
    }
  }
  if (const auto topics = claims->find("permitted_topics"); topics != claims->end()) {
    if (!topics->is_array()) {
      return fail(code::bad_claims, "token permitted_topics is not a list of strings");
    }
    std::vector<std::string> list;
    list.reserve(topics->size());
    for (const auto& t : *topics) {
      if (!t.is_string()) {
        return fail(code::bad_claims, "token permitted_topics is not a list of strings");
      }
      list.push_back(t.get<std::string>());
    }
    out.permitted_topics = std::move(list);
  }
  out.claims = std::move(*claims);
  return out;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  // Comparing fixed-size digests hides the length as well as the content.
  unsigned char da[EVP_MAX_MD_SIZE];
  unsigned char db[EVP_MAX_MD_SIZE];
  unsigned int la = 0;
  unsigned int lb = 0;
  if (EVP_Digest(a.data(), a.size(), da, &la, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(b.data(), b.size(), db, &lb, EVP_sha256(), nullptr) != 1 || la != lb) {
    detail::clear_openssl_errors();
    return false;
  }
  return CRYPTO_memcmp(da, db, la) == 0 && a.size() == b.size();
}

}  // namespace pdl::auth
