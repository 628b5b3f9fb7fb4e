// Blobs shared by replicas through a real redis-server: copied in chunks both ways, checked
// against their name on the way back, removed when no update refers to them, and the base-entry
// leadership and current blob.
#include "server/blobs/redis_blobs.hpp"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace pdl::server::blobs {
namespace {

using namespace std::chrono_literals;

class redis_blobs_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_redis_server()) GTEST_SKIP() << "redis-server is not installed";
    redis = std::make_unique<test::redis_server>(dir.file("redis"));
  }

  redis_blobs shared() { return redis_blobs(redis::parse_uri(redis->uri()), "rb", 2000ms); }

  /** A document of @p bytes (more than one 1 MiB chunk when large). */
  static std::string document(std::size_t bytes) {
    std::string s = "[\"";
    s.append(bytes - 4, 'x');
    s += "\"]";
    return s;
  }

  static model::blob_ref put(blob_store& s, const std::string& doc) {
    blob_store::writer w(s, 64 << 20);
    w.write(doc);
    return w.commit();
  }

  test::temp_dir dir;
  std::unique_ptr<test::redis_server> redis;
};

TEST_F(redis_blobs_test, a_blob_put_by_one_replica_is_copied_whole_by_another) {
  blob_store here(dir.file("a"), 64 << 20);
  blob_store there(dir.file("b"), 64 << 20);
  auto rb = shared();
  const std::string doc = document(2'500'000);  // three chunks
  const auto ref = put(here, doc);
  rb.put(ref, *here.find(ref.sha256));
  EXPECT_EQ(redis->cli({"STRLEN", "rb:blob:" + ref.sha256}), std::to_string(doc.size()));
  EXPECT_EQ(redis->cli({"KEYS", "rb:blob:*:part:*"}), "") << "no temporary key left";

  EXPECT_FALSE(there.find(ref.sha256));
  ASSERT_TRUE(rb.fetch_into(there, ref.sha256, 64 << 20));
  ASSERT_TRUE(there.find(ref.sha256));
  EXPECT_EQ(std::filesystem::file_size(*there.find(ref.sha256)), doc.size());
  EXPECT_FALSE(rb.fetch_into(there, std::string(64, '0'), 64 << 20)) << "Redis has no such blob";
}

TEST_F(redis_blobs_test, bytes_changed_in_redis_are_not_served_under_the_old_name) {
  blob_store here(dir.file("a"), 64 << 20);
  blob_store there(dir.file("b"), 64 << 20);
  auto rb = shared();
  const auto ref = put(here, R"({"plan":"gold"})");
  rb.put(ref, *here.find(ref.sha256));
  redis->cli({"SET", "rb:blob:" + ref.sha256, R"({"plan":"hold"})"});
  EXPECT_THROW(rb.fetch_into(there, ref.sha256, 64 << 20), blob_error);
  EXPECT_FALSE(there.find(ref.sha256));
}

TEST_F(redis_blobs_test, retain_removes_old_blobs_no_update_refers_to) {
  blob_store here(dir.file("a"), 64 << 20);
  auto rb = shared();
  const auto kept = put(here, R"({"kept":1})");
  const auto dropped = put(here, R"({"dropped":1})");
  rb.put(kept, *here.find(kept.sha256));
  rb.put(dropped, *here.find(dropped.sha256));
  // Put just now: within the grace period nothing goes.
  EXPECT_EQ(rb.retain({kept.sha256}, std::chrono::system_clock::now() - 60s), 0u);
  EXPECT_EQ(rb.retain({kept.sha256}, std::chrono::system_clock::now() + 5s), 1u);
  EXPECT_EQ(redis->cli({"EXISTS", "rb:blob:" + dropped.sha256}), "0");
  EXPECT_EQ(redis->cli({"EXISTS", "rb:blob:" + kept.sha256}), "1");
  EXPECT_EQ(redis->cli({"ZCARD", "rb:blobs"}), "1");
}

TEST_F(redis_blobs_test, one_replica_leads_a_base_entry_and_the_others_read_its_blob) {
  auto a = shared();
  auto b = shared();
  EXPECT_TRUE(a.try_lead("entry", 5000ms));
  EXPECT_FALSE(b.try_lead("entry", 5000ms)) << "held by the first";
  EXPECT_FALSE(b.current("entry"));
  const model::blob_ref ref{std::string(64, 'c'), 42};
  a.set_current("entry", ref);
  EXPECT_EQ(b.current("entry"), ref);
  redis->cli({"DEL", "rb:refresh:entry"});  // the lead expired
  EXPECT_TRUE(b.try_lead("entry", 5000ms));
}

TEST_F(redis_blobs_test, with_min_replicas_an_unconfirmed_put_fails_and_a_confirmed_one_works) {
  blob_store here(dir.file("a"), 64 << 20);
  redis_blobs rb(redis::parse_uri(redis->uri()), "rb", 2000ms, 1, 100ms);
  const auto ref = put(here, document(1'500'000));
  try {
    rb.put(ref, *here.find(ref.sha256));
    FAIL() << "no replica: the put must fail";
  } catch (const redis::redis_error& e) {
    EXPECT_NE(std::string(e.what()).find("0 of 1 replicas (broadcast.min_replicas)"),
              std::string::npos)
        << e.what();
  }
  test::redis_server replica(dir.file("replica"),
                             {"--replicaof", "127.0.0.1", std::to_string(redis->port())});
  ASSERT_TRUE(test::poll_until(
      [&] {
        try {
          rb.put(ref, *here.find(ref.sha256));  // already there: the WAIT alone must pass
          return true;
        } catch (const redis::redis_error&) {
          return false;
        }
      },
      15000ms));
  EXPECT_EQ(replica.cli({"STRLEN", "rb:blob:" + ref.sha256}), "1500000");
  const auto other = put(here, document(1'200'000));
  rb.put(other, *here.find(other.sha256));  // copied, then confirmed
  EXPECT_EQ(replica.cli({"STRLEN", "rb:blob:" + other.sha256}), "1200000");
}

}  // namespace
}  // namespace pdl::server::blobs
