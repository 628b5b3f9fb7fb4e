#include "shared/auth/secret_gen.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <stdexcept>

#include "shared/auth/keys.hpp"

namespace pdl::auth {
namespace {

/** Parses Python's repr of a bytes object; throws on anything repr() would not produce. */
std::string parse_bytes_repr(const std::string& s) {
  if (s.size() < 3 || s[0] != 'b' || (s[1] != '\'' && s[1] != '"') || s.back() != s[1]) {
    throw std::runtime_error("not b'...'");
  }
  const char quote = s[1];
  std::string out;
  for (std::size_t i = 2; i + 1 < s.size(); ++i) {
    const char c = s[i];
    if (c == quote) {
      throw std::runtime_error("unescaped quote");
    }
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      throw std::runtime_error("raw non-printable");
    }
    if (c != '\\') {
      out += c;
      continue;
    }
    const char e = s.at(++i);
    if (e == '\\' || e == quote) {
      out += e;
    } else if (e == 't' || e == 'n' || e == 'r') {
      out += e == 't' ? '\t' : e == 'n' ? '\n' : '\r';
    } else if (e == 'x') {
      const std::string hex = s.substr(i + 1, 2);
      if (!std::regex_match(hex, std::regex("[0-9a-f]{2}"))) {
        throw std::runtime_error("bad \\x escape");
      }
      const int v = std::stoi(hex, nullptr, 16);
      if ((v >= 0x20 && v < 0x7f) || v == '\t' || v == '\n' || v == '\r') {
        throw std::runtime_error("escaped a byte repr() prints as is");
      }
      out += static_cast<char>(v);
      i += 2;
    } else {
      throw std::runtime_error("unknown escape");
    }
  }
  return out;
}

TEST(generate_secret, urlsafe_is_unpadded_base64url) {
  const std::regex alphabet("^[A-Za-z0-9_-]+$");
  for (int size : {1, 2, 3, 32, 4096}) {
    const std::string s = generate_secret(size, "urlsafe");
    EXPECT_EQ(s.size(), static_cast<std::size_t>((size * 4 + 2) / 3)) << size;
    EXPECT_TRUE(std::regex_match(s, alphabet));
    EXPECT_EQ(base64url_decode(s).size(), static_cast<std::size_t>(size));
  }
  EXPECT_EQ(generate_secret(32, "urlsafe").size(), 43u);  // Python's token_urlsafe(32)
  EXPECT_NE(generate_secret(32, "urlsafe"), generate_secret(32, "urlsafe"));
}

TEST(generate_secret, urlsafe_never_starts_with_a_dash_so_it_can_follow_a_verb) {
  // One byte gives 2 characters; without the redraw about 1 in 64 would start with '-'.
  for (int i = 0; i < 2000; ++i) {
    ASSERT_NE(generate_secret(1, "urlsafe").front(), '-');
  }
}

TEST(generate_secret, hex_is_lowercase_two_digits_per_byte) {
  for (int size : {1, 32, 4096}) {
    const std::string s = generate_secret(size, "hex");
    EXPECT_EQ(s.size(), static_cast<std::size_t>(size * 2));
    EXPECT_TRUE(std::regex_match(s, std::regex("^[0-9a-f]+$")));
  }
}

TEST(generate_secret, bytes_is_python_repr) {
  for (int size : {1, 32, 4096}) {
    const std::string s = generate_secret(size, "bytes");
    EXPECT_EQ(parse_bytes_repr(s).size(), static_cast<std::size_t>(size)) << s.substr(0, 40);
  }
}

TEST(generate_secret, bad_size_or_format) {
  EXPECT_THROW(generate_secret(0, "urlsafe"), std::invalid_argument);
  EXPECT_THROW(generate_secret(-1, "hex"), std::invalid_argument);
  EXPECT_THROW(generate_secret(4097, "bytes"), std::invalid_argument);
  EXPECT_THROW(generate_secret(32, "base64"), std::invalid_argument);
  EXPECT_THROW(generate_secret(32, ""), std::invalid_argument);
}

}  // namespace
}  // namespace pdl::auth
