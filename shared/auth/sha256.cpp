#include "shared/auth/sha256.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

namespace pdl::auth {
namespace {

struct ctx_free {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

using ctx_ptr = std::unique_ptr<EVP_MD_CTX, ctx_free>;

ctx_ptr new_ctx() {
  ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("sha256: cannot initialise the digest");
  }
  return ctx;
}

std::string finish(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) {
    throw std::runtime_error("sha256: cannot finish the digest");
  }
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += "0123456789abcdef"[md[i] >> 4];
    out += "0123456789abcdef"[md[i] & 0xf];
  }
  return out;
}

}  // namespace

sha256_stream::sha256_stream() : ctx_(new_ctx().release()) {}

sha256_stream::~sha256_stream() { EVP_MD_CTX_free(ctx_); }

void sha256_stream::update(std::string_view bytes) {
  EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
}

std::string sha256_stream::finish() { return pdl::auth::finish(ctx_); }

std::string sha256_hex(std::string_view bytes) {
  auto ctx = new_ctx();
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return finish(ctx.get());
}

std::string sha256_file_hex(const std::string& path) {
  std::unique_ptr<std::FILE, file_closer> f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    throw std::runtime_error("sha256: cannot open '" + path + "'");
  }
  auto ctx = new_ctx();
  std::vector<char> buf(64 * 1024);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  }
  if (std::ferror(f.get())) {
    throw std::runtime_error("sha256: cannot read '" + path + "'");
  }
  return finish(ctx.get());
}

}  // namespace pdl::auth
