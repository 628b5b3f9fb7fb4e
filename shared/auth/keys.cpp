// RSA keys over OpenSSL 3 EVP: loading in every format OPAL accepts, JWK export, RS256.
#include "shared/auth/keys.hpp"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/rsa.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <system_error>

#include "shared/auth/openssl_util.hpp"

namespace pdl::auth {

struct rsa_key::impl {
  detail::pkey_ptr pkey;
  bool has_private = false;
  std::string n;  // modulus, big-endian, no leading zeros
  std::string e;  // public exponent, same
};

namespace {

using detail::pkey_ptr;
using detail::wiped_string;

constexpr std::size_t max_key_file_bytes = 64 * 1024;
constexpr int min_rsa_bits = 2048;
constexpr int max_rsa_bits = 16384;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

bool starts_with_ssh_label(std::string_view s) {
  s = trim(s);
  return s.starts_with("ssh-") || s.starts_with("ecdsa-") || s.starts_with("sk-");
}

std::string expand_home(const std::string& value) {
  if (value == "~" || value.starts_with("~/")) {
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
      return std::string(home) + value.substr(1);
    }
  }
  return value;
}

/** OPAL's value convention: an existing file's contents, else the text itself with '_' standing
 *  for newlines when it has none. A single "ssh-..." line is taken as given. */
void resolve_value(const std::string& value, const char* what, wiped_string& out) {
  if (trim(value).empty()) {
    throw key_error(std::string(what) + " is empty");
  }
  if (value.size() <= 4096 && value.find('\n') == std::string::npos) {
    const std::string path = expand_home(value);
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
      const auto size = std::filesystem::file_size(path, ec);
      if (ec || size > max_key_file_bytes) {
        throw key_error(std::string(what) + " file " + path +
                        " is unreadable or larger than 64 KiB");
      }
      std::ifstream in(path, std::ios::binary);
      out.get().assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (!in && !in.eof()) {
        throw key_error(std::string("cannot read ") + what + " file " + path);
      }
      return;
    }
    // Key text never starts like a path (PEM "-----", DER "MII", "ssh-"), so this was meant to
    // be a file: say so rather than failing to parse a file name as a key.
    if (value.starts_with('/') || value.starts_with("~/") || value.starts_with("./")) {
      throw key_error(std::string(what) + " file " + path + " does not exist");
    }
  }
  if (value.size() > max_key_file_bytes) {
    throw key_error(std::string(what) + " is larger than 64 KiB");
  }
  out.get() = value;
  if (value.find('\n') == std::string::npos && !starts_with_ssh_label(value)) {
    for (char& c : out.get()) {
      if (c == '_') {
        c = '\n';
      }
    }
    out.get() += '\n';
  }
}

/** Refuses to prompt on a terminal for a passphrase nobody configured. */
int no_passphrase(char*, size_t, size_t*, const OSSL_PARAM*, void*) { return 0; }

pkey_ptr decode(std::string_view data, const char* input_type, int selection,
                const secret* passphrase) {
  EVP_PKEY* raw = nullptr;
  OSSL_DECODER_CTX* ctx =
      OSSL_DECODER_CTX_new_for_pkey(&raw, input_type, nullptr, "RSA", selection, nullptr, nullptr);
  if (ctx == nullptr) {
    detail::clear_openssl_errors();
    throw key_error("OpenSSL has no RSA key decoder");
  }
  if (passphrase != nullptr && !passphrase->empty()) {
    OSSL_DECODER_CTX_set_passphrase(
        ctx, reinterpret_cast<const unsigned char*>(passphrase->reveal().data()),
        passphrase->reveal().size());
  } else {
    OSSL_DECODER_CTX_set_passphrase_cb(ctx, no_passphrase, nullptr);
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t len = data.size();
  const int ok = OSSL_DECODER_from_data(ctx, &p, &len);
  OSSL_DECODER_CTX_free(ctx);
  detail::clear_openssl_errors();
  pkey_ptr key(raw);
  if (ok != 1 || !key) {
    return nullptr;
  }
  return key;
}

/** DER bytes: raw when read from a binary file, otherwise base64 (whitespace ignored). */
void der_bytes(const std::string& text, wiped_string& out) {
  if (!text.empty() && static_cast<unsigned char>(text[0]) == 0x30) {
    out.get() = text;
    return;
  }
  wiped_string compact;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      compact.get() += c;
    }
  }
  try {
    out.get() = base64_decode(compact.get());
  } catch (const std::invalid_argument&) {
    try {
      out.get() = base64url_decode(compact.get());
    } catch (const std::invalid_argument&) {
      throw key_error("the key is neither PEM, OpenSSH nor base64-encoded DER");
    }
  }
}

std::string bn_param(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1 || bn == nullptr) {
    detail::clear_openssl_errors();
    throw key_error("cannot read the RSA public key components");
  }
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

rsa_key finish(pkey_ptr pkey, bool is_private) {
  if (!pkey || EVP_PKEY_is_a(pkey.get(), "RSA") != 1) {
    throw key_error("only RSA keys (RS256) are supported");
  }
  const int bits = EVP_PKEY_get_bits(pkey.get());
  if (bits < min_rsa_bits || bits > max_rsa_bits) {
    throw key_error("RSA keys must have 2048 to 16384 bits (this one has " + std::to_string(bits) +
                    ")");
  }
  auto p = std::make_shared<rsa_key::impl>();
  p->n = bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N);
  p->e = bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E);
  p->has_private = is_private;
  p->pkey = std::move(pkey);
  rsa_key key(std::move(p));
  // A sign-then-verify self test (as OPAL does at startup) catches a private key whose parts do
  // not belong together, at a fraction of EVP_PKEY_pairwise_check's cost for 4096-bit keys.
  if (is_private) {
    constexpr std::string_view probe = "pdl key self-test";
    if (!key.verify_rs256(probe, key.sign_rs256(probe))) {
      throw key_error("the RSA private key is inconsistent (its parts do not belong together)");
    }
  }
  return key;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    detail::clear_openssl_errors();
    throw key_error("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

}  // namespace

key_format parse_key_format(std::string_view s) {
  const std::string v = lower(trim(s));
  if (v == "pem") {
    return key_format::pem;
  }
  if (v == "ssh") {
    return key_format::ssh;
  }
  if (v == "der") {
    return key_format::der;
  }
  throw std::invalid_argument("key format must be one of pem, ssh, der");
}

rsa_key::rsa_key(std::shared_ptr<impl> p) : impl_(std::move(p)) {
  if (!impl_ || !impl_->pkey) {
    throw key_error("empty RSA key");
  }
  // RFC 7638: members in lexicographic order, no whitespace.
  const std::string canonical = R"({"e":")" + base64url_encode(impl_->e) +
                                R"(","kty":"RSA","n":")" + base64url_encode(impl_->n) + R"("})";
  kid_ = base64url_encode(sha256(canonical));
}

rsa_key rsa_key::load_private(const secret& value, key_format fmt, const secret& passphrase) {
  wiped_string text;
  resolve_value(value.reveal(), "private key", text);
  const std::string& t = text.get();
  if (t.find("-----BEGIN OPENSSH PRIVATE KEY-----") != std::string::npos) {
    return finish(detail::parse_openssh_private(t), true);
  }
  if (t.find("-----BEGIN ") != std::string::npos) {
    if (t.find("PRIVATE KEY-----") == std::string::npos) {
      throw key_error("expected a private key, but the PEM block holds something else");
    }
    const bool encrypted = t.find("ENCRYPTED") != std::string::npos;
    if (encrypted && passphrase.empty()) {
      throw key_error("the private key is encrypted and no passphrase was given");
    }
    pkey_ptr key = decode(t, "PEM", EVP_PKEY_KEYPAIR, &passphrase);
    if (!key) {
      throw key_error(encrypted ? "cannot decrypt the private key (wrong passphrase?)"
                                : "cannot parse the PEM private key (not an RSA key?)");
    }
    return finish(std::move(key), true);
  }
  if (starts_with_ssh_label(t)) {
    throw key_error("expected a private key, but got an OpenSSH public key line");
  }
  wiped_string der;
  der_bytes(t, der);
  pkey_ptr key = decode(der.get(), "DER", EVP_PKEY_KEYPAIR, &passphrase);
  if (!key) {
    throw key_error(std::string("cannot parse the private key as ") +
                    (fmt == key_format::der ? "DER" : "PEM, OpenSSH or DER") +
                    " (PKCS#1 or PKCS#8 RSA)");
  }
  return finish(std::move(key), true);
}

rsa_key rsa_key::load_public(const std::string& value, key_format fmt) {
  wiped_string text;
  resolve_value(value, "public key", text);
  const std::string_view t = trim(text.get());
  if (starts_with_ssh_label(t)) {
    const auto eol = t.find_first_of("\r\n");
    return finish(detail::parse_ssh_public(t.substr(0, eol)), false);
  }
  if (t.find("-----BEGIN ") != std::string_view::npos) {
    if (t.find("PRIVATE KEY-----") != std::string_view::npos) {
      throw key_error("expected a public key, but got a private key (give the public key only)");
    }
    pkey_ptr key = decode(t, "PEM", EVP_PKEY_PUBLIC_KEY, nullptr);
    if (!key) {
      throw key_error(
          "cannot parse the PEM public key (expected BEGIN PUBLIC KEY or BEGIN RSA "
          "PUBLIC KEY holding an RSA key)");
    }
    return finish(std::move(key), false);
  }
  wiped_string der;
  der_bytes(text.get(), der);
  pkey_ptr key = decode(der.get(), "DER", EVP_PKEY_PUBLIC_KEY, nullptr);
  if (!key) {
    throw key_error(
        std::string("cannot parse the public key as ") +
        (fmt == key_format::der ? "DER (SubjectPublicKeyInfo)" : "an OpenSSH line, PEM or DER") +
        " holding an RSA key");
  }
  return finish(std::move(key), false);
}

rsa_key rsa_key::generate(int bits) {
  if (bits < min_rsa_bits || bits > max_rsa_bits) {
    throw key_error("RSA keys must have 2048 to 16384 bits");
  }
  pkey_ptr key(EVP_RSA_gen(static_cast<unsigned int>(bits)));
  if (!key) {
    detail::clear_openssl_errors();
    throw key_error("RSA key generation failed");
  }
  return finish(std::move(key), true);
}

bool rsa_key::has_private() const noexcept { return impl_->has_private; }

nlohmann::json rsa_key::public_jwk() const {
  return nlohmann::json{{"kty", "RSA"},
                        {"use", "sig"},
                        {"alg", "RS256"},
                        {"kid", kid_},
                        {"key_ops", nlohmann::json::array({"verify"})},
                        {"n", base64url_encode(impl_->n)},
                        {"e", base64url_encode(impl_->e)}};
}

bool rsa_key::same_public(const rsa_key& other) const {
  return impl_->n == other.impl_->n && impl_->e == other.impl_->e;
}

std::string rsa_key::sign_rs256(std::string_view data) const {
  if (!impl_->has_private) {
    throw key_error("this key has no private part and cannot sign");
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::size_t len = 0;
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, impl_->pkey.get(),
                            nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    detail::clear_openssl_errors();
    throw key_error("RS256 signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    detail::clear_openssl_errors();
    throw key_error("RS256 signing failed");
  }
  sig.resize(len);
  return sig;
}

bool rsa_key::verify_rs256(std::string_view data, std::string_view signature) const {
  if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(impl_->pkey.get()))) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const bool ok =
      ctx &&
      EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, impl_->pkey.get(),
                              nullptr) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  detail::clear_openssl_errors();
  return ok;
}

}  // namespace pdl::auth
