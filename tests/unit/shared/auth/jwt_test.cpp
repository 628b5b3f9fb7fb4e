#include "shared/auth/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace pdl::auth {
namespace {

using namespace std::chrono_literals;
using code = verify_error::code;

constexpr std::int64_t now_s = 1795855847;
const std::chrono::system_clock::time_point fixed_now{std::chrono::seconds(now_s)};

std::string testdata(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "testdata" / name).string();
}

const rsa_key& our_key() {
  static const rsa_key k =
      rsa_key::load_private(secret(testdata("openssh_default")), key_format::ssh);
  return k;
}

const rsa_key& other_key() {
  static const rsa_key k = rsa_key::generate(2048);
  return k;
}

const rsa_key& our_public() {
  static const rsa_key k = rsa_key::load_public(testdata("openssh_default.pub"), key_format::ssh);
  return k;
}

nlohmann::json good_claims() {
  return {{"iat", now_s},
          {"exp", now_s + 3600},
          {"aud", default_audience},
          {"iss", default_issuer},
          {"sub", "2d3039cc92a34c34a63661b3a319b087"},
          {"peer_type", "datasource"}};
}

jwt_verifier verifier(std::vector<rsa_key> keys = {our_public()}) {
  return jwt_verifier(std::move(keys), std::string(default_issuer), std::string(default_audience),
                      [] { return fixed_now; });
}

jwt_signer signer(const rsa_key& k = our_key()) {
  return jwt_signer(k, std::string(default_issuer), std::string(default_audience));
}

/** A token with any header, signed RS256 by @p key (or with @p raw_sig when given). */
std::string forge(const nlohmann::json& header, const nlohmann::json& claims, const rsa_key& key) {
  const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  return input + "." + base64url_encode(key.sign_rs256(input));
}

std::string part(const std::string& token, int index) {
  std::string_view rest = token;
  for (int i = 0; i < index; ++i) {
    rest.remove_prefix(rest.find('.') + 1);
  }
  return std::string(rest.substr(0, rest.find('.')));
}

/** The refusal code; also checks the message never quotes the token. */
std::optional<code> refusal(const jwt_verifier& v, const std::string& token) {
  auto r = v.verify(token);
  if (const auto* err = std::get_if<verify_error>(&r)) {
    EXPECT_FALSE(err->message.empty());
    if (token.size() > 20) {
      EXPECT_EQ(err->message.find(token.substr(0, 20)), std::string::npos);
      const std::string payload = part(token, 1);
      if (payload.size() > 12) {
        EXPECT_EQ(err->message.find(payload.substr(0, 12)), std::string::npos);
      }
    }
    return err->what;
  }
  return std::nullopt;
}

TEST(jwt, sign_verify_roundtrip) {
  nlohmann::json claims = good_claims();
  claims["permitted_topics"] = {"users", "billing"};
  const std::string token = signer().sign(claims);
  auto r = verifier().verify(token);
  ASSERT_TRUE(std::holds_alternative<verified_token>(r)) << std::get<verify_error>(r).message;
  const auto& ok = std::get<verified_token>(r);
  EXPECT_EQ(ok.claims, claims);
  EXPECT_EQ(ok.peer, peer_type::datasource);
  EXPECT_EQ(ok.subject, "2d3039cc92a34c34a63661b3a319b087");
  ASSERT_TRUE(ok.permitted_topics);
  EXPECT_EQ(*ok.permitted_topics, (std::vector<std::string>{"users", "billing"}));
}

TEST(jwt, header_names_the_key) {
  const std::string token = signer().sign(good_claims());
  const auto header = nlohmann::json::parse(base64url_decode(part(token, 0)));
  EXPECT_EQ(header, (nlohmann::json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", our_key().kid()}}));
}

TEST(jwt, token_without_kid_and_no_peer_type_verifies) {
  nlohmann::json claims = good_claims();
  claims.erase("peer_type");
  auto r = verifier().verify(forge({{"alg", "RS256"}, {"typ", "JWT"}}, claims, our_key()));
  ASSERT_TRUE(std::holds_alternative<verified_token>(r));
  EXPECT_FALSE(std::get<verified_token>(r).peer);
  EXPECT_FALSE(std::get<verified_token>(r).permitted_topics);
}

TEST(jwt, rotation_accepts_each_configured_key) {
  const auto v = verifier({other_key(), our_public()});
  EXPECT_EQ(refusal(v, signer().sign(good_claims())), std::nullopt);
  EXPECT_EQ(refusal(v, signer(other_key()).sign(good_claims())), std::nullopt);
  EXPECT_EQ(refusal(v, forge({{"alg", "RS256"}}, good_claims(), other_key())), std::nullopt);
}

TEST(jwt, signer_needs_a_private_key) { EXPECT_THROW(signer(our_public()), key_error); }

TEST(jwt, expiry_has_zero_leeway) {
  nlohmann::json c = good_claims();
  c["exp"] = now_s + 1;
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), std::nullopt);
  c["exp"] = now_s;
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::expired);
  c["exp"] = now_s - 3600;
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::expired);
}

TEST(jwt, exp_is_required_and_numeric) {
  nlohmann::json c = good_claims();
  c.erase("exp");
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_claims);
  c["exp"] = std::to_string(now_s + 3600);
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_claims);
}

TEST(jwt, future_nbf_or_iat_is_not_yet_valid) {
  nlohmann::json c = good_claims();
  c["nbf"] = now_s + 10;
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::not_yet_valid);
  c["nbf"] = now_s;
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), std::nullopt);
  c["iat"] = now_s + 10;
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::not_yet_valid);
}

TEST(jwt, other_key_is_refused) {
  EXPECT_EQ(refusal(verifier(), signer(other_key()).sign(good_claims())), code::unknown_kid);
  // Without a kid the signature check itself must fail.
  EXPECT_EQ(refusal(verifier(), forge({{"alg", "RS256"}}, good_claims(), other_key())),
            code::bad_signature);
  // A lying kid (ours) over another key's signature.
  EXPECT_EQ(refusal(verifier(), forge({{"alg", "RS256"}, {"kid", our_key().kid()}}, good_claims(),
                                      other_key())),
            code::bad_signature);
  EXPECT_EQ(refusal(verifier({}), forge({{"alg", "RS256"}}, good_claims(), our_key())),
            code::unknown_kid);
}

TEST(jwt, alg_none_is_refused) {
  const std::string unsigned_token = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                                     base64url_encode(good_claims().dump()) + ".";
  EXPECT_EQ(refusal(verifier(), unsigned_token), code::bad_alg);
  EXPECT_EQ(refusal(verifier(), unsigned_token + "c2ln"), code::bad_alg);
  EXPECT_EQ(refusal(verifier(), forge({{"alg", "None"}}, good_claims(), our_key())), code::bad_alg);
}

TEST(jwt, hs256_keyed_with_our_public_key_is_refused) {
  // The classic confusion attack: HMAC the token with the (public) PEM a naive verifier would use
  // as the HMAC secret.
  std::ifstream in(testdata("opal_spki.pem"));
  std::stringstream pem;
  pem << in.rdbuf();
  const jwt_verifier v =
      verifier({rsa_key::load_public(testdata("opal_spki.pem"), key_format::pem)});
  for (const std::string& secret_text : {pem.str(), std::string(default_issuer)}) {
    const std::string input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." +
                              base64url_encode(good_claims().dump());
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret_text.data(),
                        secret_text.size(), reinterpret_cast<const unsigned char*>(input.data()),
                        input.size(), mac, sizeof mac, &mac_len),
              nullptr);
    const std::string token =
        input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), mac_len));
    EXPECT_EQ(refusal(v, token), code::bad_alg);
  }
}

TEST(jwt, other_algorithms_are_refused) {
  for (const char* alg : {"RS512", "RS384", "PS256", "ES256", "HS512", "rs256", ""}) {
    SCOPED_TRACE(alg);
    EXPECT_EQ(refusal(verifier(), forge({{"alg", alg}}, good_claims(), our_key())), code::bad_alg);
  }
  EXPECT_EQ(refusal(verifier(), forge({{"typ", "JWT"}}, good_claims(), our_key())), code::bad_alg);
  EXPECT_EQ(refusal(verifier(), forge({{"alg", 256}}, good_claims(), our_key())), code::bad_alg);
}

TEST(jwt, audience_must_be_ours) {
  nlohmann::json c = good_claims();
  c["aud"] = "https://evil.example/";
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_audience);
  c.erase("aud");
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_audience);
  c["aud"] = {"https://evil.example/", default_audience};
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), std::nullopt);
  c["aud"] = {"https://evil.example/"};
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_audience);
}

TEST(jwt, issuer_must_be_ours) {
  nlohmann::json c = good_claims();
  c["iss"] = "https://evil.example/";
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_issuer);
  c.erase("iss");
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_issuer);
}

TEST(jwt, subject_must_be_a_uuid) {
  nlohmann::json c = good_claims();
  for (const nlohmann::json& sub : {nlohmann::json("alice"), nlohmann::json(42),
                                    nlohmann::json("2d3039cc92a34c34a63661b3a319b08"),
                                    nlohmann::json("2d3039cc-92a3-4c34-a636-61b3a319b08g")}) {
    c["sub"] = sub;
    EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_subject) << sub;
  }
  c.erase("sub");
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_subject);
  for (const char* ok :
       {"2d3039cc-92a3-4c34-a636-61b3a319b087", "2D3039CC92A34C34A63661B3A319B087"}) {
    c["sub"] = ok;
    EXPECT_EQ(refusal(verifier(), signer().sign(c)), std::nullopt) << ok;
  }
}

TEST(jwt, tampered_payload_is_refused) {
  const std::string token = signer().sign(good_claims());
  nlohmann::json evil = good_claims();
  evil["peer_type"] = "listener";
  evil["exp"] = now_s + 999999;
  const std::string forged =
      part(token, 0) + "." + base64url_encode(evil.dump()) + "." + part(token, 2);
  EXPECT_EQ(refusal(verifier(), forged), code::bad_signature);
  std::string flipped = token;
  flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(refusal(verifier(), flipped), code::bad_signature);
}

TEST(jwt, oversize_token_is_refused) {
  nlohmann::json c = good_claims();
  c["padding"] = std::string(13000, 'x');
  const std::string big = signer().sign(c);
  ASSERT_GT(big.size(), 16u * 1024);
  EXPECT_EQ(refusal(verifier(), big), code::malformed);
  c["padding"] = std::string(9000, 'x');
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), std::nullopt);
}

TEST(jwt, malformed_tokens) {
  const std::string good = signer().sign(good_claims());
  const std::string h = part(good, 0);
  const std::string p = part(good, 1);
  const std::string s = part(good, 2);
  for (const std::string& t :
       {std::string(), std::string("abc"), h + "." + p, good + ".x", "!!." + p + "." + s,
        base64url_encode("not json") + "." + p + "." + s,
        base64url_encode("[1]") + "." + p + "." + s, h + "." + p + ".%%%", h + ".." + s,
        h + "." + p + "."}) {
    EXPECT_EQ(refusal(verifier(), t), code::malformed) << t.substr(0, 30);
  }
  // Signed correctly, but the payload is not a JSON object.
  EXPECT_EQ(refusal(verifier(), forge({{"alg", "RS256"}}, nlohmann::json::array(), our_key())),
            code::malformed);
  EXPECT_EQ(
      refusal(verifier(), forge({{"alg", "RS256"}, {"crit", {"exp"}}}, good_claims(), our_key())),
      code::malformed);
}

TEST(jwt, peer_type_and_permitted_topics_are_checked) {
  nlohmann::json c = good_claims();
  c["peer_type"] = "admin";
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_claims);
  c["peer_type"] = "listener";
  c["permitted_topics"] = "users";
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_claims);
  c["permitted_topics"] = {"users", 3};
  EXPECT_EQ(refusal(verifier(), signer().sign(c)), code::bad_claims);
}

TEST(jwt, peer_type_names) {
  for (peer_type t : {peer_type::client, peer_type::datasource, peer_type::listener}) {
    EXPECT_EQ(parse_peer_type(to_string(t)), t);
  }
  EXPECT_EQ(to_string(peer_type::datasource), "datasource");
  EXPECT_FALSE(parse_peer_type("Client"));
}

TEST(jwt, constant_time_equals) {
  EXPECT_TRUE(constant_time_equals("master-token", "master-token"));
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_FALSE(constant_time_equals("master-token", "master-tokem"));
  EXPECT_FALSE(constant_time_equals("master-token", "master-token "));
  EXPECT_FALSE(constant_time_equals("", "x"));
  EXPECT_TRUE(constant_time_equals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace pdl::auth
