// OpenSSH key encodings (PROTOCOL.key "openssh-key-v1" and RFC 4253 "ssh-rsa" blobs), parsed by
// hand because OpenSSL has no decoder for them. Errors say what is wrong, never which bytes.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "shared/auth/keys.hpp"
#include "shared/auth/openssl_util.hpp"

namespace pdl::auth::detail {
namespace {

constexpr std::string_view openssh_begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view openssh_end = "-----END OPENSSH PRIVATE KEY-----";
constexpr std::string_view openssh_magic{"openssh-key-v1\0", 15};

[[noreturn]] void corrupt(const char* what) {
  throw key_error(std::string("malformed OpenSSH key: ") + what);
}

/** Reads SSH wire types (uint32, string, mpint) with bounds checks. */
class ssh_reader {
 public:
  explicit ssh_reader(std::string_view data) : data_(data) {}

  std::uint32_t u32() {
    if (data_.size() < 4) {
      corrupt("truncated");
    }
    const auto* p = reinterpret_cast<const unsigned char*>(data_.data());
    const std::uint32_t v = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                            (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    data_.remove_prefix(4);
    return v;
  }

  std::string_view string() {
    const std::uint32_t n = u32();
    if (n > data_.size()) {
      corrupt("truncated");
    }
    std::string_view s = data_.substr(0, n);
    data_.remove_prefix(n);
    return s;
  }

  /** A non-negative mpint as a BIGNUM. */
  bn_ptr mpint() {
    const std::string_view s = string();
    if (!s.empty() && (static_cast<unsigned char>(s[0]) & 0x80) != 0) {
      corrupt("negative integer");
    }
    bn_ptr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(s.data()),
                        static_cast<int>(s.size()), nullptr));
    if (!bn) {
      throw key_error("out of memory while reading an OpenSSH key");
    }
    return bn;
  }

  std::string_view rest() const noexcept { return data_; }
  bool empty() const noexcept { return data_.empty(); }

 private:
  std::string_view data_;
};

std::string strip_space(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      out += c;
    }
  }
  return out;
}

void check_key_type(std::string_view type) {
  if (type != "ssh-rsa") {
    std::string shown(type.substr(0, 40));
    for (char& c : shown) {
      if (c < 0x20 || c > 0x7e) {
        c = '?';
      }
    }
    throw key_error("only RSA keys are supported (this OpenSSH key is " + shown + ")");
  }
}

struct param_bld_deleter {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct param_deleter {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct pkey_ctx_deleter {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};

struct named_bn {
  const char* name;
  const BIGNUM* value;
};

pkey_ptr from_params(std::initializer_list<named_bn> values, int selection) {
  std::unique_ptr<OSSL_PARAM_BLD, param_bld_deleter> bld(OSSL_PARAM_BLD_new());
  if (!bld) {
    throw key_error("out of memory while building an RSA key");
  }
  for (const auto& v : values) {
    if (OSSL_PARAM_BLD_push_BN(bld.get(), v.name, v.value) != 1) {
      clear_openssl_errors();
      throw key_error("could not build the RSA key");
    }
  }
  std::unique_ptr<OSSL_PARAM, param_deleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    clear_openssl_errors();
    throw key_error("could not build the RSA key from its OpenSSH encoding");
  }
  return pkey_ptr(raw);
}

}  // namespace

wiped_string::~wiped_string() {
  if (!s_.empty()) {
    OPENSSL_cleanse(s_.data(), s_.size());
  }
}

void clear_openssl_errors() noexcept { ERR_clear_error(); }

pkey_ptr parse_openssh_private(std::string_view armoured) {
  const auto begin = armoured.find(openssh_begin);
  const auto end = armoured.find(openssh_end);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    throw key_error("malformed OpenSSH private key: missing BEGIN/END lines");
  }
  const std::size_t body_at = begin + openssh_begin.size();
  wiped_string b64(strip_space(armoured.substr(body_at, end - body_at)));
  wiped_string blob;
  try {
    blob.get() = base64_decode(b64.get());
  } catch (const std::invalid_argument&) {
    corrupt("body is not base64");
  }

  std::string_view all = blob.get();
  if (all.substr(0, openssh_magic.size()) != openssh_magic) {
    corrupt("not an openssh-key-v1 key");
  }
  ssh_reader r(all.substr(openssh_magic.size()));
  const std::string_view cipher = r.string();
  const std::string_view kdf = r.string();
  r.string();  // kdf options
  if (cipher != "none" || kdf != "none") {
    throw key_error(
        "passphrase-protected OpenSSH private keys are not supported; convert the key to an "
        "unencrypted PEM with `ssh-keygen -p -m pem -f <file>` (or use a PEM key and a "
        "passphrase)");
  }
  if (r.u32() != 1) {
    throw key_error("OpenSSH private key files holding several keys are not supported");
  }
  ssh_reader pub(r.string());
  ssh_reader priv(r.string());
  if (!r.empty()) {
    corrupt("trailing data");
  }

  check_key_type(pub.string());
  bn_ptr pub_e = pub.mpint();
  bn_ptr pub_n = pub.mpint();

  const std::uint32_t check1 = priv.u32();
  const std::uint32_t check2 = priv.u32();
  if (check1 != check2) {
    corrupt("check bytes differ");
  }
  check_key_type(priv.string());
  bn_ptr n = priv.mpint();
  bn_ptr e = priv.mpint();
  bn_ptr d = priv.mpint();
  bn_ptr iqmp = priv.mpint();
  bn_ptr p = priv.mpint();
  bn_ptr q = priv.mpint();
  priv.string();  // comment
  // Padding is 1, 2, 3, ... up to the cipher block size.
  std::string_view pad = priv.rest();
  if (pad.size() >= 256) {
    corrupt("bad padding");
  }
  for (std::size_t i = 0; i < pad.size(); ++i) {
    if (static_cast<unsigned char>(pad[i]) != i + 1) {
      corrupt("bad padding");
    }
  }
  if (BN_cmp(n.get(), pub_n.get()) != 0 || BN_cmp(e.get(), pub_e.get()) != 0) {
    corrupt("public and private parts differ");
  }
  if (BN_is_zero(p.get()) || BN_is_zero(q.get()) || BN_is_zero(d.get())) {
    corrupt("zero key component");
  }

  // OpenSSH stores no CRT exponents; OpenSSL wants them, so derive d mod (p-1) and d mod (q-1).
  std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> bn_ctx(BN_CTX_secure_new(), &BN_CTX_free);
  bn_ptr p1(BN_dup(p.get()));
  bn_ptr q1(BN_dup(q.get()));
  bn_ptr dmp1(BN_new());
  bn_ptr dmq1(BN_new());
  if (!bn_ctx || !p1 || !q1 || !dmp1 || !dmq1 || BN_sub_word(p1.get(), 1) != 1 ||
      BN_sub_word(q1.get(), 1) != 1 || BN_mod(dmp1.get(), d.get(), p1.get(), bn_ctx.get()) != 1 ||
      BN_mod(dmq1.get(), d.get(), q1.get(), bn_ctx.get()) != 1) {
    clear_openssl_errors();
    throw key_error("could not compute the RSA CRT parameters of the OpenSSH key");
  }
  return from_params({{OSSL_PKEY_PARAM_RSA_N, n.get()},
                      {OSSL_PKEY_PARAM_RSA_E, e.get()},
                      {OSSL_PKEY_PARAM_RSA_D, d.get()},
                      {OSSL_PKEY_PARAM_RSA_FACTOR1, p.get()},
                      {OSSL_PKEY_PARAM_RSA_FACTOR2, q.get()},
                      {OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1.get()},
                      {OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1.get()},
                      {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp.get()}},
                     EVP_PKEY_KEYPAIR);
}

pkey_ptr parse_ssh_public(std::string_view line) {
  auto skip_space = [&] {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
  };
  auto word = [&] {
    skip_space();
    std::size_t n = 0;
    while (n < line.size() && line[n] != ' ' && line[n] != '\t' && line[n] != '\n' &&
           line[n] != '\r') {
      ++n;
    }
    std::string_view w = line.substr(0, n);
    line.remove_prefix(n);
    return w;
  };
  const std::string_view type = word();
  check_key_type(type);
  const std::string_view b64 = word();
  std::string blob;
  try {
    blob = base64_decode(b64);
  } catch (const std::invalid_argument&) {
    throw key_error("malformed ssh-rsa public key: the key is not base64");
  }
  ssh_reader r(blob);
  if (r.string() != type) {
    corrupt("the key type inside the key differs from its label");
  }
  bn_ptr e = r.mpint();
  bn_ptr n = r.mpint();
  if (!r.empty()) {
    corrupt("trailing data");
  }
  return from_params({{OSSL_PKEY_PARAM_RSA_N, n.get()}, {OSSL_PKEY_PARAM_RSA_E, e.get()}},
                     EVP_PKEY_PUBLIC_KEY);
}

}  // namespace pdl::auth::detail
