#include "shared/model/utf8.hpp"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pdl::model {
namespace {

const std::string fffd = "\xEF\xBF\xBD";

TEST(utf8, valid_text_within_the_bound_is_kept_as_is) {
  const std::string s = "plain ascii, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x98\x80";
  EXPECT_TRUE(valid_utf8(s));
  EXPECT_EQ(truncate_utf8(s, s.size()), s);
  EXPECT_EQ(truncate_utf8("", 0), "");
  EXPECT_EQ(truncate_utf8("abc", 0), "");
}

TEST(utf8, a_cut_never_splits_a_character) {
  // "ab" + U+20AC (3 bytes) + "c": every bound inside the euro sign drops it whole.
  const std::string s = "ab\xE2\x82\xAC" "c";
  EXPECT_EQ(truncate_utf8(s, 2), "ab");
  EXPECT_EQ(truncate_utf8(s, 3), "ab");
  EXPECT_EQ(truncate_utf8(s, 4), "ab");
  EXPECT_EQ(truncate_utf8(s, 5), "ab\xE2\x82\xAC");
  EXPECT_EQ(truncate_utf8(s, 6), s);
  // A four-byte character at every offset of the bound.
  const std::string emoji = "x\xF0\x9F\x98\x80";
  for (std::size_t max = 1; max < emoji.size(); ++max) {
    EXPECT_EQ(truncate_utf8(emoji, max), "x") << max;
  }
  // A long string of two-byte characters cut at an odd byte count.
  std::string many;
  for (int i = 0; i < 600; ++i) {
    many += "\xC3\xA9";
  }
  std::string cut = truncate_utf8(many, 1023);
  EXPECT_EQ(cut.size(), 1022u);
  EXPECT_TRUE(valid_utf8(cut));
  EXPECT_NO_THROW((void)nlohmann::json(cut).dump());
}

TEST(utf8, ill_formed_sequences_become_the_replacement_character) {
  EXPECT_FALSE(valid_utf8("\xFF"));
  EXPECT_EQ(truncate_utf8("a\xFF" "b", 100), "a" + fffd + "b");
  // A lone continuation byte, a truncated sequence at the end, one in the middle.
  EXPECT_EQ(truncate_utf8("\x80", 100), fffd);
  EXPECT_EQ(truncate_utf8("ok\xE2\x82", 100), "ok" + fffd);
  EXPECT_EQ(truncate_utf8("\xE2\x82" "z", 100), fffd + "z");
  // Overlong forms, a surrogate, and a code point above U+10FFFF: one U+FFFD per byte that
  // cannot start or continue a well-formed sequence (Unicode's "maximal subpart" practice).
  EXPECT_EQ(truncate_utf8("\xC0\xAF", 100), fffd + fffd);
  EXPECT_EQ(truncate_utf8("\xE0\x80\xAF", 100), fffd + fffd + fffd);
  EXPECT_EQ(truncate_utf8("\xED\xA0\x80", 100), fffd + fffd + fffd);
  EXPECT_EQ(truncate_utf8("\xF4\x90\x80\x80", 100), fffd + fffd + fffd + fffd);
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));
  EXPECT_TRUE(valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_EQ(sanitize_utf8(std::string("nul\0in", 6)), std::string("nul\0in", 6));
}

TEST(utf8, the_bound_holds_with_replacements_and_the_result_dumps) {
  // Each invalid byte grows to three: the bound is on the output.
  const std::string s = "\xFF\xFF\xFF\xFF";
  EXPECT_EQ(truncate_utf8(s, 7), fffd + fffd);
  EXPECT_EQ(truncate_utf8(s, 2), "");
  for (std::size_t max = 0; max < 20; ++max) {
    std::string out = truncate_utf8("a\xC3\xA9\xFF\xF0\x9F\x98\x80\xE2\x82", max);
    EXPECT_LE(out.size(), max);
    EXPECT_TRUE(valid_utf8(out)) << max;
    EXPECT_NO_THROW((void)nlohmann::json(out).dump()) << max;
  }
}

}  // namespace
}  // namespace pdl::model
