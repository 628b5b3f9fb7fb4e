#include "shared/redis/client.hpp"

#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/redis_sentinel.hpp"
#include "tests/support/redis_server.hpp"

namespace pdl::redis {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

client_options options_for(const test::redis_server& r) {
  client_options o;
  o.where = parse_uri(r.uri());
  o.timeout = 2000ms;
  return o;
}

TEST(redis_client, CommandsAndReplyKinds) {
  test::temp_dir dir;
  test::redis_server server(dir.path());
  client c(options_for(server));
  EXPECT_EQ(c.call({"SET", "k", std::string("a\0b", 3)}).str, "OK");
  auto v = c.call({"GET", "k"});
  EXPECT_EQ(v.type, reply::kind::string);
  EXPECT_EQ(v.str, std::string("a\0b", 3));  // binary-safe both ways
  EXPECT_EQ(c.call({"GET", "missing"}).type, reply::kind::nil);
  EXPECT_EQ(c.call({"INCR", "n"}).integer, 1);
  auto arr = c.call({"MGET", "k", "missing"});
  ASSERT_EQ(arr.type, reply::kind::array);
  ASSERT_EQ(arr.elements.size(), 2u);
  EXPECT_EQ(arr.elements[1].type, reply::kind::nil);
  EXPECT_TRUE(c.healthy());
  try {
    c.call({"INCR", "k"});
    FAIL() << "an error reply must throw";
  } catch (const redis_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("ERR"));
  }
  EXPECT_EQ(c.call({"PING"}).str, "PONG");  // the connection survives an error reply
}

TEST(redis_client, ConcurrentCallersArePipelinedAndEachGetsItsOwnReply) {
  test::temp_dir dir;
  test::redis_server server(dir.path());
  client c(options_for(server));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string v = std::to_string(t) + ":" + std::to_string(i);
        auto r = c.call({"ECHO", v});
        if (r.str != v) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(redis_client, ADeadServerFailsFastAndARestartedOneIsUsedAgain) {
  test::temp_dir dir;
  test::redis_server server(dir.path());
  client c(options_for(server));
  c.call({"SET", "k", "v"});
  server.kill();
  EXPECT_THROW(c.call({"GET", "k"}), redis_error);
  EXPECT_FALSE(c.healthy());
  try {
    c.call({"GET", "k"});
    FAIL();
  } catch (const redis_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1"));  // names where, never the arguments
  }
  server.start();
  EXPECT_TRUE(test::poll_until([&] {
    try {
      return c.call({"GET", "k"}).str == "v";  // the AOF kept it
    } catch (const redis_error&) {
      return false;
    }
  }));
  EXPECT_TRUE(c.healthy());
}

TEST(redis_client, ACommandWithoutAnswerTimesOutAndLaterCommandsWork) {
  test::temp_dir dir;
  test::redis_server server(dir.path());
  auto o = options_for(server);
  o.timeout = 300ms;
  client c(o);
  try {
    c.call({"BLPOP", "nothing", "5"});
    FAIL();
  } catch (const redis_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no answer"));
  }
  EXPECT_EQ(c.call({"PING"}).str, "PONG");  // a new connection: no stale reply mixed in
  EXPECT_EQ(c.call({"BLPOP", "nothing", "1"}, 3000ms).type, reply::kind::nil);
}

TEST(redis_client, WrongPasswordIsAClearError) {
  test::temp_dir dir;
  test::redis_server server(dir.path());
  server.cli({"CONFIG", "SET", "requirepass", "right"});
  auto o = options_for(server);
  o.where.password = secret("wrong-password-value");
  client c(o);
  try {
    c.call({"PING"});
    FAIL();
  } catch (const redis_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("refused the connection set-up"));
    EXPECT_THAT(std::string(e.what()), ::testing::Not(HasSubstr("wrong-password-value")));
  }
  o.where.password = secret("right");
  client ok(o);
  EXPECT_EQ(ok.call({"PING"}).str, "PONG");
}

TEST(redis_client, SentinelsNameThePrimaryAndAFailoverIsFollowed) {
  if (!test::have_redis_sentinel()) GTEST_SKIP() << "redis-sentinel is not installed";
  test::temp_dir dir;
  test::redis_sentinel_set set(dir.path());
  const int first = set.node(0).port();
  ASSERT_TRUE(test::poll_until([&] { return set.settled(first, 1); }, 30000ms)) << set.logs();
  client_options o;
  o.where = parse_uri(set.uri());
  o.timeout = 2000ms;
  client c(o);
  EXPECT_EQ(c.call({"SET", "k", "1"}).str, "OK");
  EXPECT_EQ(c.call({"CONFIG", "GET", "port"}).elements.at(1).str, std::to_string(first));

  // A failover the sentinels run: the old primary is demoted, our connection is dropped (or
  // answered -READONLY), and the next command goes where the sentinels now say.
  EXPECT_EQ(set.sentinel_cli(0, {"SENTINEL", "FAILOVER", set.master_name()}), "OK");
  const int second = set.node(1).port();
  ASSERT_TRUE(test::poll_until(
      [&] {
        try {
          return c.call({"SET", "k", "2"}).str == "OK" &&
                 c.call({"CONFIG", "GET", "port"}).elements.at(1).str == std::to_string(second);
        } catch (const redis_error&) {
          return false;
        }
      },
      30000ms))
      << set.logs();
  EXPECT_EQ(c.call({"ROLE"}).elements.at(0).str, "master");
}

TEST(redis_client, NoSentinelAnsweringIsAClearErrorWithoutThePassword) {
  client_options o;
  o.where = parse_uri("redis-sentinel://:topsecret@127.0.0.1:1,127.0.0.1:2#pdl-primary");
  o.timeout = 2000ms;
  client c(o);
  try {
    c.call({"PING"});
    FAIL() << "nobody answers";
  } catch (const redis_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no sentinel named the primary 'pdl-primary'"));
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:1: "));
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:2: "));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("topsecret")));
  }
}

TEST(redis_client, APipelineSharesOneConnectionSoWaitCoversTheWrite) {
  test::temp_dir dir;
  test::redis_server primary(dir.file("p"));
  test::redis_server replica(dir.file("r"),
                             {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  ASSERT_TRUE(test::poll_until([&] {
    return replica.cli({"INFO", "replication"}).find("master_link_status:up") != std::string::npos;
  }, 15000ms));
  client c(options_for(primary));
  auto r = c.pipeline({{"SET", "k", "v"}, {"WAIT", "1", "5000"}, {"NOSUCHCOMMAND"}});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].str, "OK");
  EXPECT_EQ(r[1].integer, 1);
  EXPECT_EQ(r[2].type, reply::kind::error);  // returned, not thrown
  EXPECT_EQ(replica.cli({"GET", "k"}), "v");
}

}  // namespace
}  // namespace pdl::redis
