#include "server/file_update_log.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/resource.h>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/unit/server/state_model.hpp"

namespace pdl::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

model::data_update make_update(const std::string& id, const std::string& path, bool put,
                               const std::string& data, std::vector<std::string> topics = {"t"}) {
  model::data_update u;
  u.id = id;
  model::data_source_entry e;
  e.topics = std::move(topics);
  e.dst_path = path;
  e.method = put ? model::save_method::put : model::save_method::patch;
  e.data_json = data;
  u.entries.push_back(std::move(e));
  return u;
}

model::data_update put(const std::string& id, const std::string& path = "/x",
                       std::vector<std::string> topics = {"t"}) {
  return make_update(id, path, true, json{{"id", id}}.dump(), std::move(topics));
}

file_log_options options(const std::string& dir) {
  file_log_options o;
  o.dir = dir;
  o.background = false;
  return o;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& de : fs::directory_iterator(dir)) {
    if (de.path().extension() == ".seg") {
      out.push_back(de.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint64_t> seqs_of(const std::vector<model::data_update>& us) {
  std::vector<std::uint64_t> out;
  for (const auto& u : us) {
    out.push_back(u.seq.value_or(0));
  }
  return out;
}

TEST(file_update_log, appends_survive_a_restart_and_the_sequence_continues) {
  pdl::test::temp_dir dir;
  {
    file_update_log log(options(dir.path()));
    EXPECT_EQ(log.head(), 0u);
    EXPECT_EQ(log.first_seq(), 1u);
    auto u = put("a");
    EXPECT_EQ(log.append(u), 1u);
    EXPECT_FALSE(u.seq.has_value());
    EXPECT_EQ(log.append(put("b")), 2u);
    EXPECT_EQ(log.append(put("c")), 3u);
  }
  file_update_log log(options(dir.path()));
  EXPECT_EQ(log.opened().records, 3u);
  EXPECT_EQ(log.opened().cut_bytes, 0u);
  EXPECT_EQ(log.head(), 3u);
  auto all = log.since(0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, "a");
  EXPECT_EQ(all[2].id, "c");
  EXPECT_EQ(all[2].seq, 3u);
  auto expected = put("b");
  expected.seq = 2;
  EXPECT_EQ(all[1], expected);  // exactly what was appended, with its seq
  EXPECT_EQ(log.append(put("d")), 4u);
  EXPECT_EQ(seqs_of(log.since(2)), (std::vector<std::uint64_t>{3, 4}));
}

TEST(file_update_log, keeps_its_log_id_across_restarts_and_takes_a_new_one_when_empty) {
  pdl::test::temp_dir dir;
  std::string first;
  {
    file_update_log log(options(dir.path()));
    first = log.log_id();
    EXPECT_EQ(first.size(), 36u);
    log.append(put("a"));
  }
  std::string second;
  {
    file_update_log log(options(dir.path()));
    EXPECT_EQ(log.log_id(), first);  // same seqs: same id
  }
  // The segments are lost (the LOG_ID file is not): seqs start again at 1, so the id changes.
  for (const auto& de : std::filesystem::directory_iterator(dir.path())) {
    if (de.path().extension() == ".seg") {
      std::filesystem::remove(de.path());
    }
  }
  file_update_log log(options(dir.path()));
  EXPECT_EQ(log.head(), 0u);
  EXPECT_NE(log.log_id(), first);
  EXPECT_EQ(log.log_id().size(), 36u);
}

TEST(file_update_log, a_torn_tail_is_cut_and_the_sequence_continues_after_the_last_whole_record) {
  pdl::test::temp_dir dir;
  {
    file_update_log log(options(dir.path()));
    for (int i = 0; i < 3; ++i) {
      log.append(put("u" + std::to_string(i)));
    }
  }
  auto seg = segment_files(dir.path()).back();
  {
    // Half of a record header: a crash in the middle of a write.
    std::ofstream out(seg, std::ios::binary | std::ios::app);
    out.write("\x40\x00\x00\x00\x12\x34", 6);
  }
  {
    file_update_log log(options(dir.path()));
    EXPECT_EQ(log.opened().cut_bytes, 6u);
    EXPECT_EQ(log.head(), 3u);
    EXPECT_EQ(log.append(put("u3")), 4u);
  }
  {
    // A damaged last record (its CRC no longer matches): cut too.
    auto size = fs::file_size(seg);
    std::fstream f(seg, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(size - 3));
    f.put('#');
  }
  file_update_log log(options(dir.path()));
  EXPECT_GT(log.opened().cut_bytes, 0u);
  EXPECT_EQ(log.head(), 3u);
  EXPECT_EQ(log.record_count(), 3u);
  EXPECT_EQ(log.append(put("again")), 4u);
  EXPECT_EQ(log.since(3).front().id, "again");
}

TEST(file_update_log, a_failed_write_assigns_no_seq_and_leaves_no_partial_record) {
  pdl::test::temp_dir dir;
  file_update_log log(options(dir.path()));
  log.append(put("first"));
  auto seg = segment_files(dir.path()).back();
  auto size_before = fs::file_size(seg);
  // The file size limit makes the next write fail part-way, as a full disk would.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = size_before + 100;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  try {
    log.append(make_update("big", "/x", true, json{{"pad", std::string(4096, 'p')}}.dump()));
  } catch (const update_log_error& e) {
    threw = true;
    EXPECT_EQ(e.burned_seq(), 0u);
  }
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_TRUE(threw);
  EXPECT_EQ(log.head(), 1u);
  EXPECT_EQ(fs::file_size(seg), size_before);
  EXPECT_EQ(log.append(put("second")), 2u);
  EXPECT_EQ(seqs_of(log.since(0)), (std::vector<std::uint64_t>{1, 2}));
}

TEST(file_update_log, concurrent_appends_get_distinct_contiguous_seqs_and_all_are_stored) {
  pdl::test::temp_dir dir;
  constexpr int threads = 6;
  constexpr int per_thread = 40;
  std::vector<std::uint64_t> seqs;
  std::mutex mu;
  {
    file_update_log log(options(dir.path()));  // fsync: always (group commit)
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          auto s = log.append(put(std::to_string(t) + "-" + std::to_string(i)));
          std::lock_guard lock(mu);
          seqs.push_back(s);
        }
      });
    }
    for (auto& t : ts) {
      t.join();
    }
  }
  std::sort(seqs.begin(), seqs.end());
  ASSERT_EQ(seqs.size(), static_cast<std::size_t>(threads * per_thread));
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_EQ(seqs[i], i + 1);
  }
  file_update_log log(options(dir.path()));
  EXPECT_EQ(log.record_count(), seqs.size());
  EXPECT_EQ(log.head(), seqs.size());
}

TEST(file_update_log, read_streams_matching_records_within_its_limits) {
  pdl::test::temp_dir dir;
  file_update_log log(options(dir.path()));
  for (int i = 1; i <= 10; ++i) {
    log.append(put("u" + std::to_string(i), "/x", {i % 2 == 1 ? "odd" : "even"}));
  }
  auto b = log.read(0, log.head(), {"odd"}, 3, 1 << 20);
  ASSERT_EQ(b.records.size(), 3u);
  EXPECT_EQ(b.records[0].seq, 1u);
  EXPECT_EQ(b.records[2].seq, 5u);
  EXPECT_EQ(b.scanned_to, 5u);
  EXPECT_EQ(json::parse(*b.records[1].json)["seq"], 3);
  EXPECT_EQ(b.records[1].topics, std::vector<std::string>{"odd"});
  b = log.read(5, 8, {"odd"}, 100, 1 << 20);
  ASSERT_EQ(b.records.size(), 1u);  // 7 (9 is past up_to)
  EXPECT_EQ(b.scanned_to, 8u);
  b = log.read(0, log.head(), {}, 100, 1);  // byte limit: one record anyway
  EXPECT_EQ(b.records.size(), 1u);
  EXPECT_EQ(b.scanned_to, 1u);
}

TEST(file_update_log, a_second_process_cannot_open_the_same_directory) {
  pdl::test::temp_dir dir;
  file_update_log log(options(dir.path()));
  EXPECT_THROW(file_update_log other(options(dir.path())), update_log_error);
}

TEST(file_update_log, compaction_by_size_keeps_the_last_put_and_later_patches) {
  pdl::test::temp_dir dir;
  auto o = options(dir.path());
  o.segment_bytes = 600;  // a few records per segment
  o.retention_bytes = 1500;
  std::vector<model::data_update> appended;
  auto add = [&](model::data_update u, file_update_log& log) {
    u.seq = log.append(u);
    appended.push_back(u);
  };
  auto patch = [](const std::string& id, const std::string& path, int v) {
    return make_update(id, path, false,
                       json::array({{{"op", "add"}, {"path", "/n"}, {"value", v}}}).dump());
  };
  {
    file_update_log log(o);
    for (int round = 0; round < 6; ++round) {
      add(make_update("a" + std::to_string(round), "/a", true, json{{"r", round}}.dump()), log);
      add(patch("pa" + std::to_string(round), "/a", round), log);
      add(make_update("b" + std::to_string(round), "/b", true, json{{"r", round}}.dump()), log);
    }
    add(patch("pa-last", "/a", 99), log);
    add(make_update("c", "/c", true, R"({"only":1})"), log);
    EXPECT_GT(log.retained_bytes(), o.retention_bytes);
    std::size_t before_segments = log.segment_count();
    std::size_t dropped = log.maintain();
    EXPECT_GT(dropped, 0u);
    EXPECT_LT(log.segment_count(), before_segments);
    EXPECT_GT(log.first_seq(), 1u);
    EXPECT_EQ(log.head(), appended.size());
  }
  // After a restart too: the survivors rebuild exactly the state of the full history.
  file_update_log log(o);
  auto kept = log.since(0);
  std::vector<std::string> ids;
  for (const auto& u : kept) {
    ids.push_back(*u.id);
  }
  // The last PUT of /a and /b, the PATCHes after the last PUT of /a, /c; the complete tail.
  for (const char* must : {"a5", "pa5", "b5", "pa-last", "c"}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), must), ids.end()) << must;
  }
  for (const char* gone : {"a0", "pa0", "b0", "a1"}) {
    EXPECT_EQ(std::find(ids.begin(), ids.end(), gone), ids.end()) << gone;
  }
  json full = json::object();
  json compacted = json::object();
  for (const auto& u : appended) {
    testing::apply_update(full, u, {"t"});
  }
  for (const auto& u : kept) {
    testing::apply_update(compacted, u, {"t"});
  }
  EXPECT_EQ(full, compacted);
  EXPECT_EQ(log.append(put("next")), appended.size() + 1);
}

TEST(file_update_log, retention_by_age_compacts_only_history_older_than_the_limit) {
  pdl::test::temp_dir dir;
  auto now = std::chrono::system_clock::now();
  auto o = options(dir.path());
  o.retention_age = 1h;
  o.now = [&] { return now; };
  file_update_log log(o);
  log.append(put("old-1"));  // superseded by old-2
  log.append(put("old-2"));  // superseded by new-1, but young enough? no: old
  now += 2h;
  log.append(put("new-1"));  // superseded by new-2, but within the age limit: kept
  log.append(put("new-2"));
  EXPECT_EQ(log.maintain(), 2u);
  EXPECT_EQ(seqs_of(log.since(0)), (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(log.first_seq(), 3u);
  now += 2h;  // now everything is old: only the current state stays
  EXPECT_EQ(log.maintain(), 1u);
  auto kept = log.since(0);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].id, "new-2");
  EXPECT_EQ(log.maintain(), 0u);  // nothing left to drop
}

TEST(file_update_log, records_left_twice_by_an_interrupted_compaction_are_read_once) {
  pdl::test::temp_dir dir;
  {
    file_update_log log(options(dir.path()));
    for (int i = 0; i < 3; ++i) {
      log.append(put("u" + std::to_string(i)));
    }
  }
  auto seg = segment_files(dir.path()).back();
  fs::copy_file(seg, dir.path() + "/00000000000000000002.seg");
  file_update_log log(options(dir.path()));
  EXPECT_EQ(log.opened().duplicates, 3u);
  EXPECT_EQ(seqs_of(log.since(0)), (std::vector<std::uint64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace pdl::server
