#include "shared/model/utf8.hpp"

#include <algorithm>

namespace pdl::model {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

/**
 * The length of the well-formed character at the start of @p s, or 0 when it starts with an
 * ill-formed sequence; then @p bad is the length of its maximal subpart (at least 1).
 */
std::size_t next_char(std::string_view s, std::size_t& bad) noexcept {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  bad = 1;
  if (lead < 0x80) {
    return 1;
  }
  std::size_t need = 0;
  unsigned char lo = 0x80;  // the allowed range of the second byte
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    lo = lead == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    hi = lead == 0xED ? 0x9F : 0xBF;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    lo = lead == 0xF0 ? 0x90 : 0x80;
    hi = lead == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
  } else {
    return 0;  // a continuation byte, C0/C1 or F5..FF
  }
  for (std::size_t i = 1; i < need; ++i) {
    if (i >= s.size()) {
      return 0;
    }
    const unsigned char b = byte(i);
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
      return 0;
    }
    bad = i + 1;
  }
  return need;
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  while (!s.empty()) {
    std::size_t bad = 0;
    std::size_t n = next_char(s, bad);
    if (n == 0) {
      return false;
    }
    s.remove_prefix(n);
  }
  return true;
}

std::string truncate_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes && valid_utf8(s)) {
    return std::string(s);
  }
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  while (!s.empty()) {
    std::size_t bad = 0;
    std::size_t n = next_char(s, bad);
    std::string_view piece = n != 0 ? s.substr(0, n) : replacement;
    if (piece.size() > max_bytes - out.size()) {
      break;
    }
    out += piece;
    s.remove_prefix(n != 0 ? n : bad);
  }
  return out;
}

}  // namespace pdl::model
