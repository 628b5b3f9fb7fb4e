#include "shared/redis/endpoint.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pdl::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string error_of(std::string_view uri) {
  try {
    (void)parse_uri(uri);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(redis_endpoint, HostPortAndDefaults) {
  auto e = parse_uri("redis://redis:6380");
  EXPECT_EQ(e.host, "redis");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 0);
  EXPECT_TRUE(e.password.empty());
  e = parse_uri("redis://10.0.0.5");
  EXPECT_EQ(e.port, 6379);
  e = parse_uri("redis://[::1]:7000/3");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 7000);
  EXPECT_EQ(e.db, 3);
  EXPECT_EQ(e.describe(), "[::1]:7000/3");
}

TEST(redis_endpoint, UserAndPasswordAreDecodedAndNeverDescribed) {
  auto e = parse_uri("redis://app:s%40cret@redis:6379/1");
  EXPECT_EQ(e.username, "app");
  EXPECT_EQ(e.password.reveal(), "s@cret");
  EXPECT_THAT(e.describe(), Not(HasSubstr("cret")));
  e = parse_uri("redis://:only-pass@redis");
  EXPECT_EQ(e.username, "");
  EXPECT_EQ(e.password.reveal(), "only-pass");
  e = parse_uri("redis://lonepass@redis");
  EXPECT_EQ(e.password.reveal(), "lonepass");
}

TEST(redis_endpoint, SchemeAndHostAnyCaseEmptyPortAndUnencodedAt) {
  auto e = parse_uri("REDIS://Redis.SVC:/1");  // an empty port is the default (RFC 3986)
  EXPECT_EQ(e.host, "redis.svc");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 1);
  e = parse_uri("redis://:p@ss@redis");  // the last '@' ends the userinfo, as in redis-py
  EXPECT_EQ(e.host, "redis");
  EXPECT_EQ(e.password.reveal(), "p@ss");
  e = parse_uri("redis://u%3Ax:pw@redis/");
  EXPECT_EQ(e.username, "u:x");
  EXPECT_EQ(e.db, 0);
}

TEST(redis_endpoint, BadUrisNameThePartAndHideThePassword) {
  EXPECT_THAT(error_of("postgres://db:5432"), HasSubstr("expected redis://"));
  EXPECT_THAT(error_of("rediss://h:1"), HasSubstr("TLS to Redis is not supported"));
  EXPECT_THAT(error_of("redis://:p@"), HasSubstr("the URL has no host"));
  EXPECT_THAT(error_of("redis://h:0"), HasSubstr("port is not a number from 1 to 65535"));
  EXPECT_THAT(error_of("redis://h:99999"), HasSubstr("port"));
  EXPECT_THAT(error_of("redis://h/16"), HasSubstr("database '16'"));
  EXPECT_THAT(error_of("redis://h?x=1"), HasSubstr("query"));
  EXPECT_THAT(error_of("redis://u:%zzsecret@h"), HasSubstr("percent-escape in the user info"));
  EXPECT_THAT(error_of("redis://u:%zzsecret@h"), Not(HasSubstr("secret")));
  EXPECT_THAT(error_of("redis://u:top/secret@h"), Not(HasSubstr("secret")));
  EXPECT_THAT(error_of("redis://u:topsecret@h:abc"), Not(HasSubstr("topsecret")));
  EXPECT_THAT(error_of("redis://" + std::string(5000, 'a')), HasSubstr("longer than"));
}

}  // namespace
}  // namespace pdl::redis
