// Blob retention: a blob lives while a record of the update log refers to it, and a young blob
// (its publish not appended yet) is never taken.
#include "server/blobs/retention.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "server/memory_update_log.hpp"
#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::server::blobs {
namespace {

using agent::test::temp_dir;
using namespace std::chrono_literals;

model::blob_ref put(blob_store& s, std::string_view doc) {
  blob_store::writer w(s, 1 << 20);
  w.write(doc);
  return w.commit();
}

model::data_update referring_to(const model::blob_ref& ref) {
  model::data_update u;
  model::data_source_entry e;
  e.url = "http://server/data/blobs/" + ref.sha256;
  e.topics = {"billing"};
  e.dst_path = "/billing";
  e.fetched_by = model::fetched_by::server;
  e.blob = ref;
  u.entries.push_back(e);
  u.id = "u-" + ref.sha256.substr(0, 8);
  return u;
}

/** Makes the blob look @p age old (retention keeps younger ones). */
void age(blob_store& s, const model::blob_ref& ref, std::chrono::seconds by) {
  const auto p = *s.find(ref.sha256);
  std::filesystem::last_write_time(p, std::filesystem::last_write_time(p) - by);
}

TEST(blob_retention, collects_the_hashes_entries_name) {
  std::set<std::string> out;
  const std::string a(64, 'a');
  const std::string b(64, 'b');
  collect_blob_refs(R"({"entries":[{"blob":{"sha256":")" + a + R"(","size":3}},)" +
                        R"({"blob":{"sha256":")" + b + R"(","size":4}},)" +
                        R"({"blob":{"sha256":"short"}},{"blob":{"sha256":")" +
                        std::string(64, 'G') + R"("}}]})",
                    out);
  EXPECT_EQ(out, (std::set<std::string>{a, b}));
}

TEST(blob_retention, a_blob_goes_once_no_retained_record_refers_to_it) {
  temp_dir d;
  blob_store store(d.path(), 1 << 20);
  memory_update_log log(2);  // keeps the last two updates
  const auto first = put(store, R"({"n":1})");
  const auto second = put(store, R"({"n":2})");
  const auto third = put(store, R"({"n":3})");
  const auto stray = put(store, R"({"n":4})");  // never published
  for (const auto& r : {first, second, third, stray}) {
    age(store, r, 1h);
  }
  log.append(referring_to(first));
  log.append(referring_to(second));
  EXPECT_EQ(referenced_blobs(log), (std::set<std::string>{first.sha256, second.sha256}));
  log.append(referring_to(third));  // the first update leaves the log

  const auto r = run_retention(log, store, nullptr, 60s);
  EXPECT_EQ(r.referenced, 2u);
  EXPECT_EQ(r.freed_bytes, first.size + stray.size);
  EXPECT_FALSE(store.find(first.sha256));
  EXPECT_FALSE(store.find(stray.sha256));
  EXPECT_TRUE(store.find(second.sha256));
  EXPECT_TRUE(store.find(third.sha256));
  EXPECT_EQ(store.count(), 2u);
}

TEST(blob_retention, a_young_blob_is_kept_though_nothing_refers_to_it_yet) {
  temp_dir d;
  blob_store store(d.path(), 1 << 20);
  memory_update_log log(10);
  const auto in_flight = put(store, R"({"publishing":true})");
  const auto old = put(store, R"({"old":true})");
  age(store, old, 1h);
  const auto r = run_retention(log, store, nullptr, 600s);
  EXPECT_EQ(r.freed_bytes, old.size);
  EXPECT_TRUE(store.find(in_flight.sha256));
  EXPECT_FALSE(store.find(old.sha256));
}

}  // namespace
}  // namespace pdl::server::blobs
