// UUID spellings accepted in tokens and /token requests (Python's uuid.UUID forms we allow).
#include "shared/auth/openssl_util.hpp"

namespace pdl::auth::detail {

std::optional<std::string> uuid_hex32(std::string_view text) {
  auto is_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  std::string out;
  if (text.size() == 32) {
    out.assign(text);
  } else if (text.size() == 36 && text[8] == '-' && text[13] == '-' && text[18] == '-' &&
             text[23] == '-') {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (i != 8 && i != 13 && i != 18 && i != 23) {
        out += text[i];
      }
    }
  } else {
    return std::nullopt;
  }
  for (char& c : out) {
    if (!is_hex(c)) {
      return std::nullopt;
    }
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace pdl::auth::detail
