// generate-secret: Python's secrets.token_urlsafe / token_hex / repr(token_bytes) outputs.
#include "shared/auth/secret_gen.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "shared/auth/keys.hpp"
#include "shared/auth/openssl_util.hpp"

namespace pdl::auth {
namespace {

constexpr int max_secret_bytes = 4096;

/** repr() of a Python bytes object, quote choice included. */
std::string python_bytes_repr(std::string_view bytes) {
  const bool has_single = bytes.find('\'') != std::string_view::npos;
  const bool has_double = bytes.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out = "b";
  out += quote;
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
  out += quote;
  return out;
}

}  // namespace

std::string generate_secret(int size, std::string_view format) {
  if (size < 1 || size > max_secret_bytes) {
    throw std::invalid_argument("size must be between 1 and 4096 bytes");
  }
  if (format != "urlsafe" && format != "hex" && format != "bytes") {
    throw std::invalid_argument("format must be one of urlsafe, hex, bytes");
  }
  detail::wiped_string raw(std::string(static_cast<std::size_t>(size), '\0'));
  const auto draw = [&] {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.get().data()), size) != 1) {
      detail::clear_openssl_errors();
      throw std::runtime_error("the random number generator failed");
    }
  };
  draw();
  if (format == "urlsafe") {
    // A secret that starts with '-' reads as an option when pasted after a verb
    // (`obtain-token -Ab…`), so draw again: 1 in 64 draws, the entropy loss is negligible.
    std::string out = base64url_encode(raw.get());
    while (out.front() == '-') {
      draw();
      out = base64url_encode(raw.get());
    }
    return out;
  }
  if (format == "hex") {
    std::string out;
    out.reserve(raw.get().size() * 2);
    for (char c : raw.get()) {
      out += fmt::format("{:02x}", static_cast<unsigned char>(c));
    }
    return out;
  }
  return python_bytes_repr(raw.get());
}

}  // namespace pdl::auth
