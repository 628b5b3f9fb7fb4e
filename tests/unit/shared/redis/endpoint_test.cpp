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

TEST(redis_endpoint, SentinelUriNamesTheSentinelsTheMasterAndTheDataNodesCredentials) {
  auto e = parse_uri("redis-sentinel://app:s%40cret@s1:26380,S2,[::1]:7000/2#pdl-primary");
  ASSERT_TRUE(e.uses_sentinel());
  ASSERT_EQ(e.sentinels.size(), 3u);
  EXPECT_EQ(e.sentinels[0], (host_port{"s1", 26380}));
  EXPECT_EQ(e.sentinels[1], (host_port{"s2", 26379}));  // Sentinel's default port
  EXPECT_EQ(e.sentinels[2], (host_port{"::1", 7000}));
  EXPECT_EQ(e.master_name, "pdl-primary");
  EXPECT_EQ(e.username, "app");
  EXPECT_EQ(e.password.reveal(), "s@cret");
  EXPECT_EQ(e.db, 2);
  EXPECT_TRUE(e.host.empty());  // the sentinels name it
  EXPECT_EQ(e.describe(), "sentinel master 'pdl-primary' via s1:26380,s2:26379,[::1]:7000 /2");
  EXPECT_THAT(e.describe(), Not(HasSubstr("cret")));

  e = parse_uri("REDIS-SENTINEL://:pw@sentinel.redis.svc#mymaster");
  EXPECT_EQ(e.sentinels, (std::vector<host_port>{{"sentinel.redis.svc", 26379}}));
  EXPECT_EQ(e.password.reveal(), "pw");
  EXPECT_EQ(e.db, 0);
  e = parse_uri("redis-sentinel://h:26379,h:26380#m%2E1");  // the name percent-decoded
  EXPECT_EQ(e.master_name, "m.1");
  EXPECT_FALSE(parse_uri("redis://h").uses_sentinel());
}

TEST(redis_endpoint, BadSentinelUrisNameThePartAndHideThePassword) {
  EXPECT_THAT(error_of("redis-sentinel://h1,h2"), HasSubstr("the primary's name is missing"));
  EXPECT_THAT(error_of("redis-sentinel://h1#"), HasSubstr("master name after '#'"));
  EXPECT_THAT(error_of("redis-sentinel://h1#a b"), HasSubstr("master name after '#'"));
  EXPECT_THAT(error_of("redis-sentinel://h1#" + std::string(129, 'm')), HasSubstr("1 to 128"));
  EXPECT_THAT(error_of("redis-sentinel://h1,,h2#m"), HasSubstr("sentinel 2 of 3: no host"));
  EXPECT_THAT(error_of("redis-sentinel://#m"), HasSubstr("the sentinel: no host"));
  EXPECT_THAT(error_of("redis-sentinel://h1,h2:0#m"),
              HasSubstr("sentinel 2 of 2: the port is not a number from 1 to 65535"));
  EXPECT_THAT(error_of("redis-sentinel://h1,h1:26379#m"), HasSubstr("named twice"));
  EXPECT_THAT(error_of("redis-sentinel://h1/16#m"), HasSubstr("database '16'"));
  EXPECT_THAT(error_of("redis-sentinel://h1?x=1#m"), HasSubstr("query"));
  std::string many;
  for (int i = 0; i < 17; ++i) many += (many.empty() ? "" : ",") + ("h" + std::to_string(i));
  EXPECT_THAT(error_of("redis-sentinel://" + many + "#m"), HasSubstr("at most 16"));
  EXPECT_THAT(error_of("redis://h#m"), HasSubstr("needs redis-sentinel://"));
  // Passwords with a stray '#', '/', '%' or a bad port never come back in the message.
  for (const char* uri : {"redis-sentinel://u:top#secret@h1#m", "redis-sentinel://u:top#secret@h1",
                          "redis-sentinel://u:top/secret@h1#m", "redis-sentinel://u:%zzsecret@h1#m",
                          "redis-sentinel://u:topsecret@h1:abc#m",
                          "redis-sentinel://u:topsecret@h1,h2:abc#m"}) {
    const auto why = error_of(uri);
    EXPECT_FALSE(why.empty()) << uri;
    EXPECT_THAT(why, Not(HasSubstr("secret"))) << uri;
  }
}

}  // namespace
}  // namespace pdl::redis
