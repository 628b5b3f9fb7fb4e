// The policy directory watcher: changes noticed (inotify, and the rescan without it), a
// ConfigMap-style swap, a broken file keeping the last good bundle, and GET /policy's answers.
#include "server/policy/policy_source.hpp"

#include <filesystem>
#include <mutex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::server::policy {
namespace {

using agent::test::temp_dir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

void write(const temp_dir& d, const std::string& rel, const std::string& text) {
  fs::create_directories(fs::path(d.file(rel)).parent_path());
  d.write(rel, text);
}

struct recorder {
  std::mutex mu;
  std::vector<policy_change> seen;
  policy_source::change_handler handler() {
    return [this](const policy_change& c) {
      std::lock_guard lock(mu);
      seen.push_back(c);
    };
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return seen.size();
  }
  policy_change last() {
    std::lock_guard lock(mu);
    return seen.back();
  }
};

source_options options(const temp_dir& d, std::chrono::milliseconds rescan = 600'000ms) {
  source_options o;
  o.dir = d.path();
  o.rescan_interval = rescan;  // long: inotify must do it
  o.settle = 20ms;
  return o;
}

nlohmann::json get(const policy_source& s, const std::string& query, int expect = 200) {
  auto a = s.answer(parse_bundle_query(query));
  EXPECT_EQ(a.status, expect) << a.body;
  return nlohmann::json::parse(a.body);
}

TEST(policy_source, without_a_directory_every_answer_is_an_empty_delta) {
  policy_source s(source_options{});
  EXPECT_FALSE(s.enabled());
  s.start(nullptr);
  for (const char* query : {"", "path=.", "path=anything&base_hash=" 
                                          "0123456789abcdef0123456789abcdef01234567"}) {
    auto b = get(s, query);
    EXPECT_EQ(b["hash"], empty_snapshot().hash);
    EXPECT_EQ(b["old_hash"], b["hash"]) << "a full bundle would make OPAL clients delete "
                                           "every policy of the engine";
    EXPECT_TRUE(b["policy_modules"].empty());
    EXPECT_TRUE(b["deleted_files"].is_null());
  }
}

TEST(policy_source, inotify_notices_a_change_and_the_delta_is_served_from_history) {
  temp_dir d;
  write(d, "rbac/rbac.rego", "package app.rbac\n");
  write(d, "billing/billing.rego", "package app.billing\n");
  recorder changes;
  policy_source s(options(d));
  s.start(changes.handler());
  const std::string first = s.status().hash;
  EXPECT_EQ(get(s, "path=.")["policy_modules"].size(), 2U);

  write(d, "rbac/rbac.rego", "package app.rbac\nallow := true\n");
  fs::remove(d.file("billing/billing.rego"));
  ASSERT_TRUE(test::poll_until([&] { return changes.count() >= 1 && s.status().hash != first &&
                                            get(s, "")["policy_modules"].size() == 1; }));
  const auto c = changes.last();
  EXPECT_EQ(c.new_hash, s.status().hash);
  EXPECT_TRUE(c.old_hash == first || changes.count() > 1);
  auto delta = get(s, "path=.&base_hash=" + first);
  EXPECT_EQ(delta["old_hash"], first);
  EXPECT_EQ(delta["deleted_files"]["policy_modules"], nlohmann::json({"billing/billing.rego"}));
  EXPECT_EQ(delta["policy_modules"][0]["rego"], "package app.rbac\nallow := true\n");

  // A new folder is watched too: a file added in it later is noticed.
  // The snapshot is served before the change is reported: wait for the report itself.
  const auto before = changes.count();
  write(d, "new/one.rego", "package one\n");
  ASSERT_TRUE(test::poll_until([&] { return s.status().files == 2 && changes.count() > before; }));
  const auto after_one = changes.count();
  write(d, "new/two.rego", "package two\n");
  ASSERT_TRUE(test::poll_until([&] { return s.status().files == 3 && changes.count() > after_one; }));
  EXPECT_THAT(changes.last().dirs, ::testing::ElementsAre(".", "new"));
  s.stop();
}

TEST(policy_source, a_configmap_update_is_one_change) {
  temp_dir d;
  write(d, "..v1/authz.rego", "package authz\nallow := false\n");
  fs::create_directory_symlink("..v1", d.file("..data"));
  fs::create_symlink("..data/authz.rego", d.file("authz.rego"));
  recorder changes;
  policy_source s(options(d));
  s.start(changes.handler());
  ASSERT_EQ(s.status().files, 1U);
  // The kubelet's swap: a new timestamped folder, a new ..data link renamed over the old one.
  write(d, "..v2/authz.rego", "package authz\nallow := true\n");
  fs::create_directory_symlink("..v2", d.file("..data_tmp"));
  fs::rename(d.file("..data_tmp"), d.file("..data"));
  fs::remove_all(d.file("..v1"));
  ASSERT_TRUE(test::poll_until([&] {
    return changes.count() >= 1 &&
           get(s, "")["policy_modules"][0]["rego"] == "package authz\nallow := true\n";
  }));
  EXPECT_EQ(changes.count(), 1U);
  EXPECT_THAT(changes.last().dirs, ::testing::ElementsAre("."));
}

TEST(policy_source, the_periodic_rescan_finds_changes_without_events) {
  temp_dir d;
  write(d, "x.rego", "package x\n");
  recorder changes;
  auto o = options(d, 100ms);
  policy_source s(o);
  s.start(changes.handler());
  write(d, "y.rego", "package y\n");
  ASSERT_TRUE(test::poll_until([&] { return s.status().files == 2 && changes.count() >= 1; }));
}

TEST(policy_source, a_broken_file_keeps_the_last_good_bundle_until_it_is_fixed) {
  temp_dir d;
  write(d, "x.rego", "package x\n");
  recorder changes;
  policy_source s(options(d));
  s.start(changes.handler());
  const std::string good = s.status().hash;
  write(d, "bad.rego", "allow := true\n");
  ASSERT_TRUE(test::poll_until([&] { return !s.status().ok; }));
  EXPECT_EQ(s.status().error, "bad.rego: no package declaration");
  EXPECT_EQ(get(s, "")["hash"], good);
  EXPECT_EQ(changes.count(), 0U);
  write(d, "bad.rego", "package bad\nallow := true\n");
  ASSERT_TRUE(test::poll_until(
      [&] { return s.status().ok && s.status().files == 2 && changes.count() == 1; }));
  EXPECT_EQ(changes.count(), 1U);
  EXPECT_EQ(changes.last().old_hash, good);
}

TEST(policy_source, before_a_first_good_read_answers_503_and_unknown_paths_404) {
  temp_dir d;
  write(d, "bad.rego", "no package here\n");
  policy_source s(options(d));
  s.start(nullptr);
  auto a = s.answer(parse_bundle_query(""));
  EXPECT_EQ(a.status, 503);
  EXPECT_THAT(a.body, ::testing::HasSubstr("bad.rego: no package declaration"));
  write(d, "bad.rego", "package fixed\n");
  ASSERT_TRUE(test::poll_until([&] { return s.answer(parse_bundle_query("")).status == 200; }));
  auto missing = s.answer(parse_bundle_query("path=nonexistent"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body,
            R"({"detail":"requested path nonexistent was not found in the policy directory"})");
  // An unknown (well-formed) base hash gets the full bundle, old_hash null, as OPAL.
  auto full = get(s, "base_hash=0123456789abcdef0123456789abcdef01234567");
  EXPECT_TRUE(full["old_hash"].is_null());
  EXPECT_EQ(full["policy_modules"].size(), 1U);
}

}  // namespace
}  // namespace pdl::server::policy
