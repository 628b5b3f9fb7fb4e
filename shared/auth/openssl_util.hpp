#pragma once
// Internal to pdl_auth (not part of its API): owning handles for OpenSSL objects and the parsers
// that build RSA keys from OpenSSH encodings. Only shared/auth/*.cpp include this file.
#include <openssl/bn.h>
#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pdl::auth::detail {

struct pkey_deleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

/** Clears a BIGNUM's memory before freeing it (private exponents, primes). */
struct bn_deleter {
  void operator()(BIGNUM* p) const noexcept { BN_clear_free(p); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_deleter>;

/** A string wiped with OPENSSL_cleanse on destruction, for key text and decoded key bytes. */
class wiped_string {
 public:
  wiped_string() = default;
  explicit wiped_string(std::string s) : s_(std::move(s)) {}
  ~wiped_string();
  wiped_string(const wiped_string&) = delete;
  wiped_string& operator=(const wiped_string&) = delete;
  std::string& get() noexcept { return s_; }
  const std::string& get() const noexcept { return s_; }

 private:
  std::string s_;
};

/** Parses an unencrypted "-----BEGIN OPENSSH PRIVATE KEY-----" (openssh-key-v1) RSA key.
 *  @throws key_error (passphrase-protected, non-RSA, several keys, corrupt); never echoes key
 * bytes. */
pkey_ptr parse_openssh_private(std::string_view armoured);

/** Parses one "ssh-rsa AAAA... [comment]" line. @throws key_error. */
pkey_ptr parse_ssh_public(std::string_view line);

/** Drops OpenSSL's thread-local error queue so a failure here cannot surface in, say, a TLS handshake. */
void clear_openssl_errors() noexcept;

/** 32 lowercase hex digits when @p text is a UUID (32 hex digits, or 8-4-4-4-12), else nullopt. */
std::optional<std::string> uuid_hex32(std::string_view text);

}  // namespace pdl::auth::detail
