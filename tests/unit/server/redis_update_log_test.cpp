#include "server/redis_update_log.hpp"

#include <mutex>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/redis_server.hpp"

namespace pdl::server {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

model::data_update update(std::string id, std::string topic) {
  return model::parse_data_update(R"({"id":")" + id + R"(","entries":[{"url":"","data":{"v":")" +
                                  id + R"("},"topics":[")" + topic + R"("],"dst_path":"/x"}]})");
}

redis_log_options options_for(const test::redis_server& r) {
  redis_log_options o;
  o.where = redis::parse_uri(r.uri());
  o.key_prefix = "t";
  o.timeout = 1000ms;
  o.tail_block = 200ms;
  return o;
}

/** What a tail handed over, in order. */
struct seen_entries {
  std::mutex mu;
  std::vector<std::pair<std::uint64_t, std::string>> entries;  // seq, id
  redis_update_log::entry_handler handler() {
    return [this](std::uint64_t seq, model::data_update u) {
      std::lock_guard lk(mu);
      entries.emplace_back(seq, u.id.value_or(""));
    };
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return entries.size();
  }
};

TEST(redis_update_log, TwoReplicasShareOneSequenceAndBothTailsSeeEveryUpdateInOrder) {
  test::temp_dir dir;
  test::redis_server redis(dir.path());
  redis_update_log a(options_for(redis));
  redis_update_log b(options_for(redis));
  EXPECT_EQ(a.log_id(), b.log_id());
  EXPECT_EQ(a.log_id().size(), 36u);
  seen_entries seen_a, seen_b;
  a.start_tail(0, seen_a.handler());
  b.start_tail(0, seen_b.handler());
  ASSERT_TRUE(test::poll_until([&] { return a.healthy() && b.healthy(); }));
  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 20; ++i) {
    auto& log = i % 2 ? a : b;
    seqs.push_back(log.append(update("u" + std::to_string(i), i % 3 ? "users" : "billing")));
  }
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_EQ(seqs[i], i + 1);  // cluster-wide, no gap, whichever replica appended
  }
  ASSERT_TRUE(test::poll_until([&] { return seen_a.size() == 20 && seen_b.size() == 20; }));
  EXPECT_EQ(seen_a.entries, seen_b.entries);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(seen_a.entries[i].first, i + 1);
    EXPECT_EQ(seen_a.entries[i].second, "u" + std::to_string(i));
  }
  EXPECT_EQ(a.head(), 20u);
  EXPECT_EQ(b.head(), 20u);

  // Replay reads: topic filter, limits, and where the scan got to.
  auto batch = b.read(0, 20, {"billing"}, 100, 1 << 20);
  ASSERT_EQ(batch.records.size(), 7u);  // i = 0, 3, 6, ..., 18
  EXPECT_EQ(batch.records[1].seq, 4u);
  EXPECT_EQ(batch.records[1].id, "u3");
  EXPECT_EQ(batch.scanned_to, 20u);
  EXPECT_NE(batch.records[1].json->find("\"seq\":4}"), std::string::npos);
  auto part = a.read(5, 20, {}, 3, 1 << 20);
  ASSERT_EQ(part.records.size(), 3u);
  EXPECT_EQ(part.records.front().seq, 6u);
  EXPECT_EQ(part.scanned_to, 8u);  // cut short: the next read goes on from 8
  EXPECT_EQ(a.first_seq(), 1u);
  auto all = a.since(18);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].seq, 19u);
}

TEST(redis_update_log, ANewReplicaTailsFromTheHeadAndTheLogIdSurvivesARedisRestart) {
  test::temp_dir dir;
  test::redis_server redis(dir.path());
  std::string id;
  {
    redis_update_log first(options_for(redis));
    first.append(update("old", "users"));
    id = first.log_id();
  }
  redis_update_log late(options_for(redis));
  EXPECT_EQ(late.head(), 1u);
  seen_entries seen;
  late.start_tail(0, seen.handler());
  ASSERT_TRUE(test::poll_until([&] { return late.healthy(); }));
  late.append(update("new", "users"));
  ASSERT_TRUE(test::poll_until([&] { return seen.size() == 1; }));
  EXPECT_EQ(seen.entries[0].second, "new");  // history is for replay, not for fan-out

  // Redis down: appends fail at once with a clear error, and the log reports unhealthy.
  redis.kill();
  try {
    late.append(update("lost", "users"));
    FAIL() << "an append with Redis down must throw";
  } catch (const update_log_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("127.0.0.1"));
  }
  EXPECT_TRUE(test::poll_until([&] { return !late.healthy(); }));

  // Back: the tail resumes by itself, the id and the sequence carry on.
  redis.start();
  ASSERT_TRUE(test::poll_until([&] { return late.healthy(); }));
  EXPECT_EQ(late.log_id(), id);
  std::uint64_t seq = 0;
  ASSERT_TRUE(test::poll_until([&] {
    try {
      seq = late.append(update("after", "users"));
      return true;
    } catch (const update_log_error&) {
      return false;
    }
  }));
  EXPECT_EQ(seq, 3u);
  ASSERT_TRUE(test::poll_until([&] { return seen.size() == 2; }));
  EXPECT_EQ(seen.entries[1], (std::pair<std::uint64_t, std::string>{3, "after"}));
}

TEST(redis_update_log, ARedisThatLostItsDataIsNotServedUnderTheOldId) {
  test::temp_dir dir;
  test::redis_server redis(dir.path());
  redis_update_log log(options_for(redis));
  seen_entries seen;
  log.start_tail(0, seen.handler());
  log.append(update("a", "users"));
  ASSERT_TRUE(test::poll_until([&] { return log.healthy(); }));
  redis.cli({"FLUSHALL"});
  EXPECT_TRUE(test::poll_until([&] { return !log.healthy(); }));
  EXPECT_THROW(log.append(update("b", "users")), update_log_error);
  EXPECT_THAT(log.fatal_error(), ::testing::HasSubstr("restart this server"));
}

TEST(redis_update_log, WithMinReplicasAnUpdateNoReplicaConfirmedIsRefusedAndHeldBackUntilOneDoes) {
  test::temp_dir dir;
  test::redis_server redis(dir.file("primary"));
  auto o = options_for(redis);
  o.min_replicas = 1;
  o.min_replicas_timeout = 100ms;
  redis_update_log log(o);
  seen_entries seen;
  log.start_tail(0, seen.handler());
  ASSERT_TRUE(test::poll_until([&] { return log.healthy(); }));
  try {
    log.append(update("u1", "users"));
    FAIL() << "no replica: the append must not be acknowledged";
  } catch (const update_log_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("0 of 1 replicas"));
    EXPECT_THAT(e.for_publisher(), HasSubstr("broadcast.min_replicas"));
    EXPECT_THAT(e.for_publisher(), HasSubstr("GET /data/updates/u1"));
  }
  EXPECT_EQ(seen.size(), 0u);
  EXPECT_TRUE(log.healthy());  // Redis answers: /ready stays true, publishes say why they fail

  // A replica attaches: the stored update reaches it and the tail delivers it, then appends
  // are acknowledged again.
  test::redis_server replica(dir.file("replica"),
                             {"--replicaof", "127.0.0.1", std::to_string(redis.port())});
  ASSERT_TRUE(test::poll_until([&] { return seen.size() == 1; }, 15000ms));
  EXPECT_EQ(seen.entries[0], (std::pair<std::uint64_t, std::string>{1, "u1"}));
  std::uint64_t seq = 0;
  ASSERT_TRUE(test::poll_until([&] {
    try {
      seq = log.append(update("u2", "users"));
      return true;
    } catch (const update_log_error&) {
      return false;
    }
  }));
  EXPECT_EQ(seq, 2u);
  ASSERT_TRUE(test::poll_until([&] { return seen.size() == 2; }));
  EXPECT_EQ(replica.cli({"XLEN", "t:log"}), "2");
}

TEST(redis_update_log, ATailWhoseDeliveredUpdateTheLogLostGivesTheLogANewId) {
  test::temp_dir dir;
  test::redis_server redis(dir.path());
  redis_update_log a(options_for(redis));
  seen_entries seen;
  a.start_tail(0, seen.handler());
  ASSERT_TRUE(test::poll_until([&] { return a.healthy(); }));
  a.append(update("u1", "users"));
  a.append(update("u2", "users"));
  ASSERT_TRUE(test::poll_until([&] { return seen.size() == 2; }));
  const std::string old_id = a.log_id();

  // What a failover to a replica that lacked seq 2 looks like: the stream and the seq lose it,
  // and the next append reuses seq 2 for another update.
  redis.cli({"XDEL", "t:log", "2-0"});
  redis.cli({"SET", "t:seq", "1"});
  redis_update_log b(options_for(redis));
  try {
    EXPECT_EQ(b.append(update("other", "users")), 2u);
  } catch (const update_log_error&) {
    // a's tail may have noticed first and replaced the id: b's append is then refused.
  }
  ASSERT_TRUE(test::poll_until([&] { return !a.fatal_error().empty(); }));
  EXPECT_FALSE(a.healthy());
  EXPECT_NE(redis.cli({"GET", "t:log_id"}), old_id);  // agents will start over on the new id
  EXPECT_THROW(b.append(update("refused", "users")), update_log_error);
  EXPECT_EQ(seen.size(), 2u);  // "other" never went out under seq 2
}

}  // namespace
}  // namespace pdl::server
