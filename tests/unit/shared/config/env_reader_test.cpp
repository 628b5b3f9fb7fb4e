#include "shared/config/env_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pdl::config::detail {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(env_reader, is_http_url_parses_the_whole_url) {
  EXPECT_TRUE(is_http_url("HTTP://Opal-Server:7002"));
  EXPECT_TRUE(is_http_url("https://[::1]:8181/v1"));
  EXPECT_FALSE(is_http_url("http://"));
  EXPECT_FALSE(is_http_url("http://h:0"));
  EXPECT_FALSE(is_http_url("http://[::1"));
  EXPECT_FALSE(is_http_url("ws://h"));
  EXPECT_FALSE(is_http_url("http:/h"));
}

TEST(env_reader, http_url_problem_is_precise_and_hides_credentials) {
  EXPECT_EQ(http_url_problem("http://h:8181"), std::nullopt);
  const auto problem = http_url_problem("http://admin:s3cret@opa:0/v1?token=t0k");
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(*problem,
            "'http://opa:0/v1' is not an http(s) URL: the port is not a number from 1 to 65535");
  EXPECT_THAT(*http_url_problem("ftp://admin:s3cret@h/"),
              ::testing::AllOf(HasSubstr("unsupported scheme 'ftp'"), Not(HasSubstr("s3cret"))));
}

}  // namespace
}  // namespace pdl::config::detail
