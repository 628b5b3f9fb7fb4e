// updater: bounded retries, permanent errors, superseded PUTs, the applied watermark, the write
// observer and entry reports. (The header under test is included first.)
#include "agent/updater.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "shared/auth/sha256.hpp"
#include "shared/net.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

model::data_source_entry put(std::string path, std::string data) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.data_json = std::move(data);
  return e;
}

model::data_source_entry fetched(std::string path, std::string url) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.url = std::move(url);
  return e;
}

model::data_update update(std::vector<model::data_source_entry> entries,
                          std::optional<std::string> id = std::nullopt,
                          std::optional<std::uint64_t> seq = std::nullopt) {
  model::data_update u;
  u.entries = std::move(entries);
  u.id = std::move(id);
  u.seq = seq;
  return u;
}

struct recording_observer final : write_observer {
  void written(const std::string& path, bool is_put, const store_body& body,
               bool applied) override {
    std::lock_guard lock(mu);
    seen.push_back((applied ? "applied " : "intended ") + std::string(is_put ? "PUT " : "PATCH ") +
                   path + " " +
                   (body.is_file() ? test::read_all(body.file_path) : std::string(body.text)));
  }
  void patch_refused(const std::string& path, const store_body& body) override {
    std::lock_guard lock(mu);
    seen.push_back("refused PATCH " + path + " " +
                   (body.is_file() ? test::read_all(body.file_path) : std::string(body.text)));
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mu);
    return seen;
  }
  std::mutex mu;
  std::vector<std::string> seen;
};

class updater_retry_test : public ::testing::Test {
 protected:
  void SetUp() override {
    state.set_engine_reachable(true);
    state.set_connected(true, "ws://server/ws");
  }
  void make(int attempts, std::chrono::milliseconds min = 1ms, bool reports = false) {
    updater_options o;
    o.retry_attempts = attempts;
    o.retry_min = min;
    o.retry_max = std::max(min, 5ms);
    o.seed = 3;
    o.observer = &observer;
    o.collect_reports = reports;
    up = std::make_unique<updater>(ioc, pool, fetcher, store, state, o);
  }
  std::optional<update_outcome> run(model::data_update u) {
    std::optional<update_outcome> out;
    up->submit(std::move(u), [&](const update_outcome& o) { out = o; });
    run_until(ioc, [&] { return out.has_value(); });
    return out;
  }

  net::io_context ioc;
  net::thread_pool pool{4};
  test::fake_fetcher fetcher;
  test::fake_store store;
  agent_state state;
  recording_observer observer;
  std::unique_ptr<updater> up;
};

TEST_F(updater_retry_test, a_transient_write_failure_is_retried_until_it_works) {
  make(4);
  store.fail_times("/a", 503, 2);
  const auto out = run(update({put("/a", "1")}));
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->ok);
  EXPECT_EQ(store.attempts("/a"), 3);
  EXPECT_EQ(observer.all(), std::vector<std::string>{"applied PUT /a 1"});
  EXPECT_TRUE(state.health().healthy);
}

TEST_F(updater_retry_test, retries_end_and_the_write_is_kept_as_intended_state) {
  make(3);
  store.fail_path("/a", 0);  // the engine is unreachable
  const auto out = run(update({put("/a", "1")}));
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->ok);
  EXPECT_EQ(store.attempts("/a"), 3);
  ASSERT_EQ(out->errors.size(), 1u);
  EXPECT_NE(out->errors[0].find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(observer.all(), std::vector<std::string>{"intended PUT /a 1"});
  EXPECT_FALSE(state.health().healthy);
}

TEST_F(updater_retry_test, permanent_errors_are_reported_at_once) {
  make(5);
  store.fail_path("/bad", 400);  // OPA's invalid_parameter
  fetcher.set("http://src/ok", "1");
  fetcher.fail_times("http://src/ok", 404, 5);
  const auto out = run(update({put("/bad", "1"), fetched("/f", "http://src/ok")}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->failed, 2u);
  EXPECT_EQ(store.attempts("/bad"), 1);
  EXPECT_EQ(fetcher.calls(), 1);
  EXPECT_TRUE(observer.all().empty());  // refused writes are not kept
}

// An engine that restarted empty refuses every PATCH (404) until the agent rewrites it: the
// observer must see the PATCH to journal it; a refused PUT stays unreported.
TEST_F(updater_retry_test, a_refused_patch_is_reported_to_the_observer_a_refused_put_is_not) {
  make(3);
  store.fail_path("/p", 404);
  store.fail_path("/q", 404);
  fetcher.set("http://src/ops", R"([{"op":"remove","path":"/k"}])");
  auto inline_patch = put("/p", R"([{"op":"add","path":"/v","value":1}])");
  inline_patch.method = model::save_method::patch;
  auto fetched_patch = fetched("/q", "http://src/ops");
  fetched_patch.method = model::save_method::patch;
  const auto out = run(update({inline_patch, fetched_patch, put("/q/r", "2")}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->failed, 2u);
  EXPECT_EQ(store.attempts("/p"), 1);  // permanent: not retried
  auto seen = observer.all();
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "applied PUT /q/r 2",
                      R"(refused PATCH /p [{"op":"add","path":"/v","value":1}])",
                      R"(refused PATCH /q [{"op":"remove","path":"/k"}])"}));
  store.fail_path("/s", 404);
  const auto refused_put = run(update({put("/s", "3")}));
  ASSERT_TRUE(refused_put);
  EXPECT_FALSE(refused_put->ok);
  EXPECT_EQ(observer.all().size(), 3u);  // nothing new
}

TEST_F(updater_retry_test, a_transient_fetch_failure_is_retried) {
  make(3);
  fetcher.set("http://src/flaky", R"({"v":1})");
  fetcher.fail_times("http://src/flaky", 503, 2);
  const auto out = run(update({fetched("/f", "http://src/flaky")}));
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->ok);
  EXPECT_EQ(fetcher.calls(), 3);
  ASSERT_EQ(store.writes().size(), 1u);
  EXPECT_EQ(store.writes()[0].body, R"({"v":1})");
}

TEST_F(updater_retry_test, a_queued_put_superseded_by_a_newer_put_is_not_written) {
  make(1);
  test::gate release;
  fetcher.set("http://src/slow", R"({"b":0})");
  fetcher.before_fetch = [&](const std::string&) { release.wait(); };
  std::optional<update_outcome> first, second, third;
  up->submit(update({fetched("/a", "http://src/slow")}));  // runs, blocks everything below /a
  up->submit(update({put("/a/b", "1"), put("/a/c", "1")}), [&](auto& o) { first = o; });
  up->submit(update({put("/a/b/x", "2")}), [&](auto& o) { second = o; });
  up->submit(update({put("/a/b", "3")}), [&](auto& o) { third = o; });
  // /a/b and /a/b/x are covered by the newer PUT of /a/b; /a/c is not. They are set aside, and
  // counted applied only once that PUT has succeeded.
  EXPECT_FALSE(run_until(ioc, [&] { return second.has_value(); }, std::chrono::milliseconds(50)));
  release.open();
  ASSERT_TRUE(run_until(ioc, [&] { return first && second && third && up->idle(); }));
  EXPECT_TRUE(second->ok);
  EXPECT_EQ(second->superseded, 1u);
  EXPECT_TRUE(first->ok);
  EXPECT_EQ(first->superseded, 1u);
  EXPECT_EQ(first->applied, 2u);
  std::vector<std::string> got;
  for (const auto& w : store.writes()) {
    got.push_back(w.path + "=" + w.body);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], R"(/a={"b":0})");  // /a/b and /a/c are independent: either order
  std::sort(got.begin() + 1, got.end());
  EXPECT_EQ(got, (std::vector<std::string>{R"(/a={"b":0})", "/a/b=3", "/a/c=1"}));
}

TEST_F(updater_retry_test, an_ancestor_write_in_between_keeps_the_older_put) {
  make(1);
  test::gate release;
  fetcher.set("http://src/slow", "{}");
  fetcher.before_fetch = [&](const std::string&) { release.wait(); };
  up->submit(update({fetched("/a", "http://src/slow")}));
  up->submit(update({put("/a/b", "1")}));
  // A PATCH of /a may read /a/b: the first /a/b must stay before it.
  model::data_source_entry patch = put("/a", R"([{"op":"add","path":"/b/z","value":1}])");
  patch.method = model::save_method::patch;
  up->submit(update({patch}));
  up->submit(update({put("/a/b", "2")}));
  release.open();
  ASSERT_TRUE(run_until(ioc, [&] { return up->idle() && store.writes().size() == 4; }));
  EXPECT_EQ(store.writes()[1].body, "1");
  EXPECT_EQ(store.writes()[2].method, "PATCH");
  EXPECT_EQ(store.writes()[3].body, "2");
}

TEST_F(updater_retry_test, a_put_waiting_to_retry_is_dropped_when_superseded) {
  make(5, 60s);  // the retry wait would outlast the test: only superseding ends it
  store.fail_times("/r", 500, 1);
  std::optional<update_outcome> first, second;
  up->submit(update({put("/r", "\"old\"")}), [&](auto& o) { first = o; });
  ASSERT_TRUE(run_until(ioc, [&] { return store.attempts("/r") == 1; }));
  up->submit(update({put("/r", "\"new\"")}), [&](auto& o) { second = o; });
  ASSERT_TRUE(run_until(ioc, [&] { return first && second; }));
  EXPECT_TRUE(first->ok);
  EXPECT_EQ(first->superseded, 1u);
  EXPECT_TRUE(second->ok);
  ASSERT_EQ(store.writes().size(), 1u);
  EXPECT_EQ(store.writes()[0].body, "\"new\"");
}

TEST_F(updater_retry_test, seqs_at_or_below_the_restored_watermark_are_skipped) {
  make(1);
  up->set_applied_seq(5);
  EXPECT_EQ(up->submit(update({put("/a", "1")}, "u5", 5)), submit_result::already_applied);
  EXPECT_EQ(up->submit(update({put("/a", "1")}, "u3", 3)), submit_result::already_applied);
  EXPECT_EQ(up->submit(update({put("/b", "2")}, "u6", 6)), submit_result::queued);
  ASSERT_TRUE(run_until(ioc, [&] { return up->idle() && up->last_applied_seq() == 6u; }));
  ASSERT_EQ(store.writes().size(), 1u);
  EXPECT_EQ(store.writes()[0].path, "/b");
}

TEST_F(updater_retry_test, reports_carry_fetched_saved_and_the_hash_of_the_bytes_written) {
  make(1, 1ms, true);
  fetcher.set("http://src/doc", R"({"hello":"world"})");
  store.fail_path("/refused", 400);
  const auto out = run(update({put("/inline", R"([1, 2])"), fetched("/doc", "http://src/doc"),
                               put("/refused", "1"), fetched("/none", "http://src/missing")}));
  ASSERT_TRUE(out);
  ASSERT_EQ(out->reports.size(), 4u);
  std::map<std::string, entry_report> by_path;
  for (const auto& r : out->reports) {
    by_path[r.entry.dst_path] = r;
  }
  EXPECT_TRUE(by_path["/inline"].saved);
  EXPECT_EQ(by_path["/inline"].hash, auth::sha256_hex("[1, 2]"));
  EXPECT_TRUE(by_path["/doc"].fetched);
  EXPECT_TRUE(by_path["/doc"].saved);
  EXPECT_EQ(by_path["/doc"].hash, auth::sha256_hex(R"({"hello":"world"})"));
  EXPECT_TRUE(by_path["/refused"].fetched);
  EXPECT_FALSE(by_path["/refused"].saved);
  EXPECT_FALSE(by_path["/none"].fetched);
  EXPECT_TRUE(by_path["/none"].hash.empty());
  EXPECT_NE(by_path["/none"].error.find("404"), std::string::npos);
}

TEST(sha256, matches_the_known_digest) {
  // OPAL's documented example hashes this exact text (opal-reference.md §2.7).
  EXPECT_EQ(auth::sha256_hex(R"({"hello": "world"})"),
            "5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1");
}

}  // namespace
}  // namespace pdl::agent
