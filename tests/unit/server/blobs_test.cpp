// The blob store: content-addressed, validated while written, whole or absent, bounded.
#include "server/blobs/blob_store.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::server::blobs {
namespace {

using agent::test::temp_dir;
namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

model::blob_ref put(blob_store& s, std::initializer_list<std::string_view> chunks,
                    std::uint64_t max_blob = 1 << 20) {
  blob_store::writer w(s, max_blob);
  for (auto c : chunks) {
    w.write(c);
  }
  return w.commit();
}

std::string refusal(blob_store& s, std::initializer_list<std::string_view> chunks,
                    std::uint64_t max_blob = 1 << 20) {
  try {
    (void)put(s, chunks, max_blob);
  } catch (const blob_error& e) {
    return e.what();
  }
  return "";
}

TEST(blob_store, a_blob_is_named_by_its_sha256_and_read_back_whole) {
  temp_dir d;
  blob_store s(d.path(), 1 << 20);
  const auto ref = put(s, {R"({"users":)", R"( [1, 2]})"});
  EXPECT_EQ(ref.sha256, auth::sha256_hex(R"({"users": [1, 2]})"));
  EXPECT_EQ(ref.size, 17U);
  auto path = s.find(ref.sha256);
  ASSERT_TRUE(path);
  EXPECT_EQ(read_all(*path), R"({"users": [1, 2]})");
  EXPECT_EQ(path->parent_path().filename(), ref.sha256.substr(0, 2));
  // The same bytes again: one blob.
  EXPECT_EQ(put(s, {R"({"users": [1, 2]})"}), ref);
  EXPECT_EQ(s.count(), 1U);
  EXPECT_EQ(s.used_bytes(), 17U);
  EXPECT_FALSE(s.find(std::string(64, 'a')));
  EXPECT_FALSE(s.find("../../etc/passwd"));
}

TEST(blob_store, invalid_or_oversized_documents_leave_nothing_behind) {
  temp_dir d;
  blob_store s(d.path(), 100);
  EXPECT_THAT(refusal(s, {R"({"a": )", "tru}"}), ::testing::StartsWith("invalid JSON: "));
  EXPECT_THAT(refusal(s, {R"({"a": 1)"}), ::testing::StartsWith("invalid JSON: "));
  EXPECT_EQ(refusal(s, {""}), "invalid JSON: empty input (expected a JSON value) at byte 0");
  EXPECT_EQ(refusal(s, {"[1,2,3,4,5]"}, 5), "the document is larger than 5 bytes");
  EXPECT_EQ(refusal(s, {"\"" + std::string(120, 'x') + "\""}),
            "the blob store is full (0 of 100 bytes used, 0 being written)");
  EXPECT_EQ(s.count(), 0U);
  EXPECT_TRUE(fs::is_empty(fs::path(d.path()) / "tmp"));
  {
    blob_store::writer abandoned(s, 100);
    abandoned.write("[1");
  }
  EXPECT_TRUE(fs::is_empty(fs::path(d.path()) / "tmp"));
}

TEST(blob_store, blobs_being_written_together_cannot_overfill_the_store) {
  temp_dir d;
  blob_store s(d.path(), 100);
  blob_store::writer first(s, 100);
  first.write("[" + std::string(60, '1'));
  blob_store::writer second(s, 100);
  EXPECT_THROW(second.write("[" + std::string(60, '2')), blob_error) << "60 + 61 > 100";
  {
    blob_store::writer abandoned(s, 100);
    abandoned.write("[1,");  // its share goes back when it does
  }
  first.write("]");
  const auto ref = first.commit();
  EXPECT_EQ(s.used_bytes(), ref.size);
  blob_store::writer third(s, 100);
  third.write("[" + std::string(36, '3') + "]");  // 62 + 38 = 100: fits exactly
  EXPECT_NO_THROW(third.commit());
  EXPECT_EQ(s.used_bytes(), 100u);
}

TEST(blob_store, a_restart_counts_what_is_there_and_drops_unfinished_files) {
  temp_dir d;
  model::blob_ref kept;
  {
    blob_store s(d.path(), 1 << 20);
    kept = put(s, {"[1]"});
    (void)put(s, {"[2]"});
  }
  std::ofstream(fs::path(d.path()) / "tmp" / "crashed.part") << "[3";
  blob_store again(d.path(), 1 << 20);
  EXPECT_EQ(again.count(), 2U);
  EXPECT_EQ(again.used_bytes(), 6U);
  EXPECT_TRUE(fs::is_empty(fs::path(d.path()) / "tmp"));
  EXPECT_EQ(again.retain({kept.sha256}), 3U);
  EXPECT_EQ(again.count(), 1U);
  EXPECT_TRUE(again.find(kept.sha256));
}

}  // namespace
}  // namespace pdl::server::blobs
