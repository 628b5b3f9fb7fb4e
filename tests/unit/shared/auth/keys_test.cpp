#include "shared/auth/keys.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

namespace pdl::auth {
namespace {

// Fixtures made with `ssh-keygen -t rsa -b 4096 -m pem` (OPAL's documented recipe) and a default
// `ssh-keygen -t rsa` (OpenSSH private format); the other files are the 4096-bit key converted
// with openssl. Expected kids were computed independently (RFC 7638, Python hashlib).
constexpr const char* opal_kid = "42JmJZvw6PDfMot5O7EZjcumhiQRMLt0ztAg4dd6pEQ";
constexpr const char* openssh_kid = "FcZenA2cDv4eaoMcN_2mNdTwLE8hJ2JULQJJVwKnS6Y";

std::string testdata(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "testdata" / name).string();
}

std::string read_file(const std::string& name) {
  std::ifstream in(testdata(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/** OPAL's env-var spelling: newlines written as '_', trailing newline dropped. */
std::string underscored(std::string text) {
  while (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  for (char& c : text) {
    if (c == '\n') {
      c = '_';
    }
  }
  return text;
}

std::string key_error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const key_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no key_error thrown";
  return {};
}

void expect_sign_verify(const rsa_key& priv, const rsa_key& pub) {
  const std::string sig = priv.sign_rs256("payload");
  EXPECT_TRUE(pub.verify_rs256("payload", sig));
  EXPECT_FALSE(pub.verify_rs256("payloaD", sig));
}

TEST(keys, opal_recipe_pair_from_files) {
  const rsa_key priv = rsa_key::load_private(secret(testdata("opal_pem_4096")), key_format::pem);
  const rsa_key pub = rsa_key::load_public(testdata("opal_pem_4096.pub"), key_format::ssh);
  EXPECT_TRUE(priv.has_private());
  EXPECT_FALSE(pub.has_private());
  EXPECT_EQ(priv.kid(), opal_kid);
  EXPECT_EQ(pub.kid(), opal_kid);
  EXPECT_TRUE(priv.same_public(pub));
  expect_sign_verify(priv, pub);
}

TEST(keys, opal_recipe_pair_as_env_text_with_underscores) {
  const std::string env_private = underscored(read_file("opal_pem_4096"));
  ASSERT_EQ(env_private.find('\n'), std::string::npos);
  const rsa_key priv = rsa_key::load_private(secret(env_private), key_format::pem);
  // The ssh line is used as given: its comment "opal_user@example" keeps its underscore.
  std::string env_public = read_file("opal_pem_4096.pub");
  env_public.pop_back();
  ASSERT_NE(env_public.find("opal_user"), std::string::npos);
  const rsa_key pub = rsa_key::load_public(env_public, key_format::ssh);
  EXPECT_EQ(priv.kid(), opal_kid);
  EXPECT_EQ(pub.kid(), opal_kid);
  expect_sign_verify(priv, pub);
}

TEST(keys, default_ssh_keygen_pair_openssh_private_format) {
  ASSERT_NE(read_file("openssh_default").find("BEGIN OPENSSH PRIVATE KEY"), std::string::npos);
  const rsa_key priv = rsa_key::load_private(secret(testdata("openssh_default")), key_format::ssh);
  const rsa_key pub = rsa_key::load_public(testdata("openssh_default.pub"), key_format::ssh);
  EXPECT_EQ(priv.kid(), openssh_kid);
  EXPECT_TRUE(priv.same_public(pub));
  expect_sign_verify(priv, pub);
}

TEST(keys, openssh_private_as_env_text_with_underscores) {
  const rsa_key priv =
      rsa_key::load_private(secret(underscored(read_file("openssh_default"))), key_format::ssh);
  EXPECT_EQ(priv.kid(), openssh_kid);
}

TEST(keys, every_private_format_of_one_key) {
  struct item {
    const char* file;
    key_format fmt;
  };
  for (const item& it :
       {item{"opal_pem_4096", key_format::pem}, item{"opal_pkcs8.pem", key_format::pem},
        item{"opal_pkcs1.der.b64", key_format::der}, item{"opal_pkcs8.der.b64", key_format::der}}) {
    SCOPED_TRACE(it.file);
    const rsa_key from_file = rsa_key::load_private(secret(testdata(it.file)), it.fmt);
    EXPECT_EQ(from_file.kid(), opal_kid);
    EXPECT_TRUE(from_file.has_private());
    const rsa_key from_text = rsa_key::load_private(secret(read_file(it.file)), it.fmt);
    EXPECT_EQ(from_text.kid(), opal_kid);
  }
}

TEST(keys, every_public_format_of_one_key) {
  struct item {
    const char* file;
    key_format fmt;
  };
  for (const item& it :
       {item{"opal_pem_4096.pub", key_format::ssh}, item{"opal_spki.pem", key_format::pem},
        item{"opal_pkcs1_pub.pem", key_format::pem}, item{"opal_spki.der.b64", key_format::der}}) {
    SCOPED_TRACE(it.file);
    const rsa_key pub = rsa_key::load_public(testdata(it.file), it.fmt);
    EXPECT_EQ(pub.kid(), opal_kid);
    EXPECT_FALSE(pub.has_private());
    EXPECT_EQ(rsa_key::load_public(underscored(read_file(it.file)), it.fmt).kid(), opal_kid);
  }
}

TEST(keys, tilde_expands_to_home) {
  const char* old = std::getenv("HOME");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("HOME", testdata("").c_str(), 1);
  const rsa_key pub = rsa_key::load_public("~/opal_spki.pem", key_format::pem);
  if (saved) {
    ::setenv("HOME", saved->c_str(), 1);
  } else {
    ::unsetenv("HOME");
  }
  EXPECT_EQ(pub.kid(), opal_kid);
}

TEST(keys, missing_key_file_is_named) {
  const std::string msg = key_error_message(
      [] { rsa_key::load_public("/nonexistent/opal_public.pem", key_format::pem); });
  EXPECT_EQ(msg, "public key file /nonexistent/opal_public.pem does not exist");
}

TEST(keys, encrypted_pem_needs_its_passphrase) {
  const secret path(testdata("opal_pkcs8_encrypted.pem"));
  const rsa_key priv = rsa_key::load_private(path, key_format::pem, secret("s3cret"));
  EXPECT_EQ(priv.kid(), opal_kid);
  EXPECT_NE(
      key_error_message([&] { rsa_key::load_private(path, key_format::pem); }).find("passphrase"),
      std::string::npos);
  EXPECT_NE(key_error_message([&] {
              rsa_key::load_private(path, key_format::pem, secret("wrong"));
            }).find("passphrase"),
            std::string::npos);
}

TEST(keys, encrypted_openssh_key_is_refused_with_a_fix) {
  const std::string msg = key_error_message([] {
    rsa_key::load_private(secret(testdata("openssh_encrypted")), key_format::ssh,
                          secret("hunter2"));
  });
  EXPECT_NE(msg.find("passphrase-protected OpenSSH"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ssh-keygen -p -m pem"), std::string::npos) << msg;
}

TEST(keys, non_rsa_keys_are_refused) {
  const std::string msg =
      key_error_message([] { rsa_key::load_public(testdata("ed25519.pub"), key_format::ssh); });
  EXPECT_NE(msg.find("only RSA"), std::string::npos) << msg;
}

TEST(keys, public_loader_refuses_a_private_key) {
  const std::string msg =
      key_error_message([] { rsa_key::load_public(testdata("opal_pem_4096"), key_format::pem); });
  EXPECT_NE(msg.find("private key"), std::string::npos) << msg;
}

TEST(keys, private_loader_refuses_a_public_key) {
  key_error_message(
      [] { rsa_key::load_private(secret(testdata("opal_spki.pem")), key_format::pem); });
  key_error_message(
      [] { rsa_key::load_private(secret(testdata("opal_pem_4096.pub")), key_format::ssh); });
}

TEST(keys, errors_never_echo_key_material) {
  // Corrupt the middle of a PEM body; the message must not quote any of it.
  std::string pem = read_file("opal_pem_4096");
  const std::size_t mid = pem.size() / 2;
  const std::string chunk = pem.substr(mid, 24);
  pem.replace(mid, 8, "!!!!!!!!");
  std::string msg = key_error_message([&] { rsa_key::load_private(secret(pem), key_format::pem); });
  EXPECT_FALSE(msg.empty());
  EXPECT_EQ(msg.find(chunk.substr(10)), std::string::npos);
  EXPECT_EQ(msg.find("MII"), std::string::npos) << msg;

  std::string openssh = read_file("openssh_default");
  openssh.replace(openssh.size() / 2, 4, "####");
  msg = key_error_message([&] { rsa_key::load_private(secret(openssh), key_format::ssh); });
  EXPECT_NE(msg.find("OpenSSH"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("b3Blbn"), std::string::npos) << msg;

  const std::string garbage = "not-a-key-but-a-long-secret-looking-value-1234567890";
  msg = key_error_message([&] { rsa_key::load_public(garbage, key_format::der); });
  EXPECT_EQ(msg.find("secret-looking"), std::string::npos) << msg;
  EXPECT_EQ(key_error_message([] { rsa_key::load_public("   ", key_format::ssh); }),
            "public key is empty");
}

TEST(keys, raw_der_file_is_accepted) {
  const std::string der = base64_decode(read_file("opal_pkcs8.der.b64"));
  const auto path = std::filesystem::temp_directory_path() / "pdl_auth_keys_test.der";
  {
    std::ofstream out(path, std::ios::binary);
    out << der;
  }
  const rsa_key priv = rsa_key::load_private(secret(path.string()), key_format::der);
  std::filesystem::remove(path);
  EXPECT_EQ(priv.kid(), opal_kid);
}

std::string standard_base64(const std::string& bytes) {
  std::string s = base64url_encode(bytes);
  for (char& c : s) {
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  s.append((4 - s.size() % 4) % 4, '=');
  return s;
}

TEST(keys, openssh_key_with_mismatched_public_part_is_refused) {
  const std::string text = read_file("openssh_default");
  const std::string begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
  const std::string end = "-----END OPENSSH PRIVATE KEY-----";
  std::string body = text.substr(begin.size(), text.find(end) - begin.size());
  std::erase(body, '\n');
  std::string blob = base64_decode(body);
  // magic(15) + "none"(8) + "none"(8) + ""(4) + count(4) + public blob (4 + len); n ends it.
  const std::size_t at = 15 + 8 + 8 + 4 + 4;
  const std::size_t len = (static_cast<unsigned char>(blob[at + 2]) << 8) |
                          static_cast<unsigned char>(blob[at + 3]);
  blob[at + 4 + len - 1] = static_cast<char>(blob[at + 4 + len - 1] ^ 2);
  const std::string tampered = begin + "\n" + standard_base64(blob) + "\n" + end + "\n";
  const std::string msg = key_error_message(
      [&] { rsa_key::load_private(secret(tampered), key_format::ssh); });
  EXPECT_NE(msg.find("public and private parts differ"), std::string::npos) << msg;
}

TEST(keys, jwk_has_the_documented_members) {
  const rsa_key pub = rsa_key::load_public(testdata("opal_spki.pem"), key_format::pem);
  const nlohmann::json jwk = pub.public_jwk();
  EXPECT_EQ(jwk.at("kty"), "RSA");
  EXPECT_EQ(jwk.at("use"), "sig");
  EXPECT_EQ(jwk.at("alg"), "RS256");
  EXPECT_EQ(jwk.at("kid"), opal_kid);
  EXPECT_EQ(jwk.at("key_ops"), nlohmann::json::array({"verify"}));
  EXPECT_EQ(jwk.at("e"), "AQAB");
  const std::string n = base64url_decode(jwk.at("n").get<std::string>());
  EXPECT_EQ(n.size(), 512u);  // 4096 bits, no leading zero byte
  EXPECT_NE(static_cast<unsigned char>(n[0]), 0);
  EXPECT_EQ(jwk.size(), 7u);
}

TEST(keys, public_key_cannot_sign_and_bad_signatures_fail) {
  const rsa_key priv = rsa_key::load_private(secret(testdata("opal_pem_4096")), key_format::pem);
  const rsa_key pub = rsa_key::load_public(testdata("opal_spki.pem"), key_format::pem);
  EXPECT_THROW(pub.sign_rs256("x"), key_error);
  std::string sig = priv.sign_rs256("x");
  EXPECT_EQ(sig.size(), 512u);
  EXPECT_FALSE(pub.verify_rs256("x", sig.substr(1)));
  sig[100] = static_cast<char>(sig[100] ^ 1);
  EXPECT_FALSE(pub.verify_rs256("x", sig));
  EXPECT_FALSE(pub.verify_rs256("x", ""));
}

TEST(keys, generate_makes_distinct_private_keys) {
  const rsa_key a = rsa_key::generate();
  const rsa_key b = rsa_key::generate(2048);
  EXPECT_TRUE(a.has_private());
  EXPECT_NE(a.kid(), b.kid());
  EXPECT_FALSE(a.same_public(b));
  expect_sign_verify(a, a);
  EXPECT_FALSE(b.verify_rs256("payload", a.sign_rs256("payload")));
  EXPECT_THROW(rsa_key::generate(1024), key_error);
}

TEST(keys, parse_key_format_is_case_insensitive) {
  EXPECT_EQ(parse_key_format("PEM"), key_format::pem);
  EXPECT_EQ(parse_key_format("ssh"), key_format::ssh);
  EXPECT_EQ(parse_key_format("Der"), key_format::der);
  EXPECT_THROW(parse_key_format("jwk"), std::invalid_argument);
}

TEST(base64, url_roundtrip_and_strictness) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"}) {
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("Zm8="), "fo");
  EXPECT_EQ(base64url_decode("Zm8"), "fo");
  EXPECT_THROW(base64url_decode("Zm8+"), std::invalid_argument);  // standard alphabet
  EXPECT_THROW(base64url_decode("Z"), std::invalid_argument);
  EXPECT_THROW(base64url_decode("Zm9="), std::invalid_argument);  // non-canonical bits
  EXPECT_THROW(base64url_decode("Zm 8"), std::invalid_argument);
  EXPECT_EQ(base64_decode("+/8="), "\xfb\xff");
  EXPECT_THROW(base64_decode("-_8"), std::invalid_argument);
}

}  // namespace
}  // namespace pdl::auth
