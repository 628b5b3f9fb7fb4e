#include "tests/fakes/opa_standin/go_json.hpp"

#include <string>

#include <gtest/gtest.h>

namespace pdl::fakes::go_json {
namespace {

std::string error_of(std::string_view body) {
  auto r = decode(body);
  EXPECT_FALSE(r.ok) << body;
  return r.error;
}

TEST(go_json, DecoderErrorsReadLikeGo) {
  EXPECT_EQ(error_of(""), "EOF");
  EXPECT_EQ(error_of("  \n"), "EOF");
  EXPECT_EQ(error_of(R"({"x":)"), "unexpected EOF");
  EXPECT_EQ(error_of("[1,"), "unexpected EOF");
  EXPECT_EQ(error_of("-"), "unexpected EOF");
  EXPECT_EQ(error_of("not json"), "invalid character 'o' in literal null (expecting 'u')");
  EXPECT_EQ(error_of("tru "), "invalid character ' ' in literal true (expecting 'e')");
  EXPECT_EQ(error_of("{1:2}"), "invalid character '1' looking for beginning of object key string");
  EXPECT_EQ(error_of(R"({"a" 1})"), "invalid character '1' after object key");
  EXPECT_EQ(error_of(R"({"a":1 "b":2})"), "invalid character '\"' after object key:value pair");
  EXPECT_EQ(error_of("[1 2]"), "invalid character '2' after array element");
  EXPECT_EQ(error_of("[1,]"), "invalid character ']' looking for beginning of value");
  EXPECT_EQ(error_of("<x>"), "invalid character '<' looking for beginning of value");
  EXPECT_EQ(error_of("'a'"), "invalid character '\\'' looking for beginning of value");
  EXPECT_EQ(error_of("\"a\nb\""), "invalid character '\\n' in string literal");
  EXPECT_EQ(error_of(R"("\x")"), "invalid character 'x' in string escape code");
  EXPECT_EQ(error_of(R"("\u12g4")"), "invalid character 'g' in \\u hexadecimal character escape");
  EXPECT_EQ(error_of("-a"), "invalid character 'a' in numeric literal");
  EXPECT_EQ(error_of("1.x"), "invalid character 'x' after decimal point in numeric literal");
  EXPECT_EQ(error_of("1e+"), "unexpected EOF");
  EXPECT_EQ(error_of("[1e]"), "invalid character ']' in exponent of numeric literal");
  EXPECT_EQ(error_of(std::string(10001, '[')), "exceeded max depth");
}

TEST(go_json, DecodesFirstValueAndIgnoresTheRest) {
  auto r = decode(R"({"b":[1,-2.5,true,null],"a":"\u00e9\ud83d\ude00"} trailing)");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value["a"], "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(r.value["b"][1], -2.5);
  auto big = decode("18446744073709551615");
  ASSERT_TRUE(big.ok);
  EXPECT_EQ(big.value.get<std::uint64_t>(), 18446744073709551615ull);
  auto lone = decode(R"("\ud800x")");
  ASSERT_TRUE(lone.ok);
  EXPECT_EQ(lone.value, "\xEF\xBF\xBDx");
}

TEST(go_json, EncodesLikeGoMarshal) {
  nlohmann::json v = {{"z", 1}, {"a", {{"html", "<&>"}, {"ctl", "\x01\n"}, {"ls", "\xE2\x80\xA8"}}}};
  EXPECT_EQ(encode(v),
            R"({"a":{"ctl":"\u0001\n","html":"\u003c\u0026\u003e","ls":"\u2028"},"z":1})");
  EXPECT_EQ(encode_indent(nlohmann::json{{"a", nlohmann::json::array()}, {"b", {1, 2}}}),
            "{\n  \"a\": [],\n  \"b\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(encode(std::string("bad\xFFutf8")), "\"bad\\ufffdutf8\"");
}

TEST(go_json, AtoiAndQuote) {
  EXPECT_EQ(atoi("+7"), 7);
  EXPECT_EQ(atoi("-03"), -3);
  EXPECT_FALSE(atoi("1.0").has_value());
  EXPECT_FALSE(atoi("").has_value());
  EXPECT_FALSE(atoi("99999999999999999999").has_value());
  EXPECT_EQ(quote("a\"b\\c\n"), R"("a\"b\\c\n")");
  EXPECT_EQ(path_unescape("a%2Fb%20c"), "a/b c");
  EXPECT_FALSE(path_unescape("%zz").has_value());
  EXPECT_FALSE(path_unescape("%4").has_value());
  EXPECT_EQ(query_unescape("a+b"), "a b");
}

}  // namespace
}  // namespace pdl::fakes::go_json
