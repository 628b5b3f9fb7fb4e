#pragma once
// RSA keys for signing (server) and verifying (server, agent API) JWTs, over OpenSSL 3.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "shared/log/secret.hpp"

namespace pdl::auth {

/** OPAL_AUTH_*_KEY_FORMAT: pem (PKCS#1/PKCS#8/SPKI PEM), ssh (OpenSSH: "ssh-rsa AAAA..." public
 *  keys, "-----BEGIN OPENSSH PRIVATE KEY-----" unencrypted private keys), der (base64 DER). */
enum class key_format { pem, ssh, der };
key_format parse_key_format(std::string_view s);  // case-insensitive; throws std::invalid_argument

class rsa_key {
 public:
  /** Loads a key from OPAL's value convention: @p value is a file path (leading "~" expanded) when
   *  such a file exists, else the key text itself; text without newlines has '_' turned into
   *  newlines (OPAL's env-var convention). Throws key_error with a message that never contains
   *  the key material.
   *  The content decides the encoding (PEM armour, OpenSSH armour or an "ssh-rsa" line, else
   *  base64 DER, or raw DER read from a file), so a mislabelled @p fmt still loads; @p fmt only
   *  shapes error messages. Only RSA keys of 2048..16384 bits are accepted; private keys pass a
   *  sign-then-verify self test. Encrypted PEM/PKCS#8 keys need @p passphrase (never prompted);
   *  passphrase-protected OpenSSH keys are refused with the ssh-keygen command that converts them.
   *  A public-key load refuses private keys (they do not belong on verifiers).
   *  @par Thread safety: an rsa_key is immutable; copies share one key; sign/verify may run
   *  concurrently from any thread. */
  static rsa_key load_private(const secret& value, key_format fmt, const secret& passphrase = {});
  static rsa_key load_public(const std::string& value, key_format fmt);
  /** A fresh key pair (2048 bits unless told). */
  static rsa_key generate(int bits = 2048);

  bool has_private() const noexcept;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url): our `kid`. */
  const std::string& kid() const noexcept { return kid_; }
  /** {"kty":"RSA","use":"sig","alg":"RS256","kid":..,"key_ops":["verify"],"n":..,"e":..} */
  nlohmann::json public_jwk() const;
  /** True when both keys hold the same public key. */
  bool same_public(const rsa_key& other) const;

  /** RS256 signature over @p data; requires has_private(). */
  std::string sign_rs256(std::string_view data) const;
  bool verify_rs256(std::string_view data, std::string_view signature) const;

  struct impl;
  explicit rsa_key(std::shared_ptr<impl> p);

 private:
  std::shared_ptr<impl> impl_;
  std::string kid_;
};

class key_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string base64url_encode(std::string_view bytes);
/** Throws std::invalid_argument on bad input. Accepts with or without padding. */
std::string base64url_decode(std::string_view text);
std::string base64_decode(std::string_view text);  // standard alphabet, padding optional

}  // namespace pdl::auth
