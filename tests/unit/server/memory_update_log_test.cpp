#include "server/memory_update_log.hpp"

#include <gtest/gtest.h>

namespace pdl::server {
namespace {

model::data_update with_id(std::string id) {
  model::data_update u;
  u.id = std::move(id);
  return u;
}

TEST(memory_update_log, assigns_seq_from_one_and_keeps_the_input_unchanged) {
  memory_update_log log(10);
  EXPECT_EQ(log.head(), 0u);
  auto u = with_id("a");
  EXPECT_EQ(log.append(u), 1u);
  EXPECT_FALSE(u.seq.has_value());
  EXPECT_EQ(log.append(with_id("b")), 2u);
  EXPECT_EQ(log.head(), 2u);
  auto all = log.since(0);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "a");
  EXPECT_EQ(all[0].seq, 1u);
  EXPECT_EQ(all[1].seq, 2u);
  auto tail = log.since(1);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].id, "b");
  EXPECT_TRUE(log.since(2).empty());
}

TEST(memory_update_log, every_log_has_its_own_id) {
  // Seqs of a memory log restart at 1 with the process: the id tells agents so.
  memory_update_log a(10);
  memory_update_log b(10);
  EXPECT_EQ(a.log_id().size(), 36u);
  EXPECT_NE(a.log_id(), b.log_id());
}

TEST(memory_update_log, drops_the_oldest_past_the_bound) {
  memory_update_log log(3);
  for (int i = 0; i < 5; ++i) {
    log.append(with_id(std::to_string(i)));
  }
  EXPECT_EQ(log.head(), 5u);
  auto kept = log.since(0);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept.front().seq, 3u);  // a reader asking since 0 sees the gap (1, 2 are gone)
  EXPECT_EQ(kept.back().seq, 5u);
}

}  // namespace
}  // namespace pdl::server
