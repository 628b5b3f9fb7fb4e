#include "shared/redis/client.hpp"

#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace pdl::redis
