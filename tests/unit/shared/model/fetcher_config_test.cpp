#include "shared/model/fetcher_config.hpp"

#include <gtest/gtest.h>

#include "shared/model/errors.hpp"

namespace pdl::model {
namespace {

std::string error_of(const std::string& json) {
  try {
    parse_fetcher_config(json);
  } catch (const invalid_input& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(parse_fetcher_config, defaults_when_absent_or_empty) {
  for (const auto& input : {std::optional<std::string>(), std::optional<std::string>("{}"),
                            std::optional<std::string>("null")}) {
    const auto c = parse_fetcher_config(input);
    EXPECT_TRUE(c.headers.empty());
    EXPECT_EQ(c.method, "GET");
    EXPECT_FALSE(c.body.has_value());
    EXPECT_TRUE(c.is_json);
  }
}

TEST(parse_fetcher_config, reads_every_field) {
  const auto c = parse_fetcher_config(std::string(
      R"({"headers":{"Authorization":"Bearer s3cr3t","X-Tenant":"t1"},"method":"post",)"
      R"("data":{"q":[1,2]},"is_json":false,"fetcher":"HttpFetchProvider","process_data":true,)"
      R"("custom_provider_key":{"anything":1}})"));
  ASSERT_EQ(c.headers.size(), 2u);
  EXPECT_EQ(c.headers[0].first, "Authorization");
  EXPECT_EQ(c.headers[0].second.reveal(), "Bearer s3cr3t");
  EXPECT_EQ(c.headers[1].first, "X-Tenant");
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.body, R"({"q":[1,2]})");
  EXPECT_FALSE(c.is_json);
}

TEST(parse_fetcher_config, accepts_methods_in_any_case) {
  for (const char* m : {"get", "GET", "Post", "put", "PATCH", "head", "delete"}) {
    const auto c = parse_fetcher_config(std::string(R"({"method":")") + m + "\"}");
    std::string upper(m);
    for (auto& ch : upper) {
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    EXPECT_EQ(c.method, upper);
  }
  EXPECT_EQ(error_of(R"({"method":"options"})"),
            "config.method: unknown method 'options' (expected get, post, put, patch, head or "
            "delete)");
}

TEST(parse_fetcher_config, string_data_is_the_body_as_is) {
  EXPECT_EQ(parse_fetcher_config(std::string(R"({"data":"a=1&b=2"})")).body, "a=1&b=2");
  EXPECT_EQ(parse_fetcher_config(std::string(R"({"data":42})")).body, "42");
  EXPECT_FALSE(parse_fetcher_config(std::string(R"({"data":null})")).body.has_value());
}

TEST(parse_fetcher_config, refuses_wrong_types_without_echoing_header_values) {
  EXPECT_EQ(error_of(R"({"headers":{"Authorization":["Bearer s3cr3t"]}})"),
            "config.headers.Authorization: expected a string, got array");
  const auto crlf = error_of(R"({"headers":{"X-Key":"s3cr3t\r\nEvil: 1"}})");
  EXPECT_EQ(crlf, "config.headers.X-Key: a header value must not contain CR, LF or NUL");
  EXPECT_EQ(crlf.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(error_of(R"({"headers":{"Bad Name":"v"}})"),
            "config.headers: a header name is not a valid HTTP token");
  EXPECT_EQ(error_of(R"({"headers":"Authorization: x"})"),
            "config.headers: expected an object of strings, got string");
  EXPECT_EQ(error_of(R"({"is_json":"yes"})"), "config.is_json: expected a boolean, got string");
  EXPECT_EQ(error_of(R"({"method":1})"), "config.method: expected a string, got number");
  EXPECT_EQ(error_of(R"({"fetcher":1})"), "config.fetcher: expected a string, got number");
  EXPECT_EQ(error_of("[]"), "config: expected an object, got array");
}

TEST(parse_fetcher_config, refuses_malformed_and_oversized_config) {
  EXPECT_EQ(error_of(R"({"headers":)"), "config: malformed JSON");
  const std::string big = R"({"data":")" + std::string(64 * 1024, 'x') + "\"}";
  EXPECT_EQ(error_of(big), "config: larger than 64 KiB");
}

}  // namespace
}  // namespace pdl::model
