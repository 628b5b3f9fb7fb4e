#include "agent/updater.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "agent/topic_filter.hpp"
#include "shared/net.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

model::data_source_entry inline_entry(std::string path, std::string data,
                                      std::vector<std::string> topics = {"policy_data"},
                                      model::save_method m = model::save_method::put) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.data_json = std::move(data);
  e.topics = std::move(topics);
  e.method = m;
  return e;
}

model::data_source_entry url_entry(std::string path, std::string url,
                                   std::vector<std::string> topics = {"policy_data"}) {
  model::data_source_entry e;
  e.dst_path = std::move(path);
  e.url = std::move(url);
  e.topics = std::move(topics);
  return e;
}

model::data_update make_update(std::vector<model::data_source_entry> entries,
                               std::optional<std::string> id = std::nullopt,
                               std::optional<std::uint64_t> seq = std::nullopt) {
  model::data_update u;
  u.entries = std::move(entries);
  u.id = std::move(id);
  u.seq = seq;
  return u;
}

class updater_test : public ::testing::Test {
 protected:
  void SetUp() override {
    state.set_engine_reachable(true);
    state.set_connected(true, "ws://server/ws");
  }
  void make(int concurrency = 4, std::vector<std::string> topics = {"policy_data"}) {
    updater_options o;
    o.max_concurrency = concurrency;
    o.topics = std::move(topics);
    up = std::make_unique<updater>(ioc, pool, fetcher, store, state, o);
  }
  bool wait_idle() {
    return run_until(ioc, [&] { return up->idle(); });
  }
  std::vector<std::string> written_paths() {
    std::vector<std::string> out;
    for (const auto& w : store.writes()) {
      out.push_back(w.path);
    }
    return out;
  }

  net::io_context ioc;
  net::thread_pool pool{4};
  test::fake_fetcher fetcher;
  test::fake_store store;
  agent_state state;
  std::unique_ptr<updater> up;
};

TEST_F(updater_test, inline_put_sends_the_raw_json_text_with_nulls) {
  make();
  const std::string data = R"({"a": null, "b" :[1,null]})";
  ASSERT_EQ(up->submit(make_update({inline_entry("users", data)})), submit_result::queued);
  ASSERT_TRUE(wait_idle());
  const auto writes = store.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].method, "PUT");
  EXPECT_EQ(writes[0].path, "/users");
  EXPECT_EQ(writes[0].body, data);
}

TEST_F(updater_test, fetched_entry_is_written_from_the_fetched_file) {
  make();
  fetcher.set("http://src/users", R"({"alice":{"admin":true}})");
  up->submit(make_update({url_entry("/users", "http://src/users")}));
  ASSERT_TRUE(wait_idle());
  const auto writes = store.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].body, R"({"alice":{"admin":true}})");
}

TEST_F(updater_test, overlapping_paths_apply_in_arrival_order_while_others_run) {
  make();
  test::gate release_slow;
  fetcher.set("http://src/slow", R"({"v":1})");
  fetcher.before_fetch = [&](const std::string& url) {
    if (url == "http://src/slow") {
      release_slow.wait();
    }
  };
  bool independent_done_first = false;
  bool child_written_early = false;
  store.on_write = [&](const std::string& path) {
    if (path == "/z") {
      // The slow fetch of /a still blocks: /a/b and /a must not have started.
      const auto started = store.started();
      child_written_early = std::count(started.begin(), started.end(), "/a/b") > 0 ||
                            std::count(started.begin(), started.end(), "/a") > 0;
      independent_done_first = true;
      release_slow.open();
    }
  };
  up->submit(make_update({url_entry("a", "http://src/slow")}));
  up->submit(make_update({inline_entry("/a/b", "2")}));
  // A PATCH, not a PUT: a PUT would supersede the queued writes below it (tested apart).
  up->submit(make_update({inline_entry("/a", R"([{"op":"add","path":"/v","value":3}])",
                                       {"policy_data"}, model::save_method::patch)}));
  up->submit(make_update({inline_entry("/z", "4")}));
  ASSERT_TRUE(wait_idle());
  EXPECT_TRUE(independent_done_first);
  EXPECT_FALSE(child_written_early);
  const auto paths = written_paths();
  ASSERT_EQ(paths.size(), 4u);
  std::vector<std::string> overlapping;
  std::copy_if(paths.begin(), paths.end(), std::back_inserter(overlapping),
               [](const std::string& p) { return p != "/z"; });
  EXPECT_EQ(overlapping, (std::vector<std::string>{"/a", "/a/b", "/a"}));
  EXPECT_EQ(store.writes().back().method, "PATCH");
}

TEST_F(updater_test, sibling_prefix_paths_are_independent) {
  make();
  // "/ab" does not overlap "/a" (OPAL's string-prefix lock serialised them).
  // A barrier: each write waits for the other to have started, so both are in flight at once.
  test::gate a_started, ab_started;
  std::atomic<bool> a_saw_ab{false}, ab_saw_a{false};
  store.on_write = [&](const std::string& path) {
    if (path == "/ab") {
      ab_started.open();
      ab_saw_a = a_started.wait();
    } else if (path == "/a") {
      a_started.open();
      a_saw_ab = ab_started.wait();
    }
  };
  up->submit(make_update({inline_entry("/a", "1"), inline_entry("/ab", "2")}));
  ASSERT_TRUE(wait_idle());
  EXPECT_TRUE(a_saw_ab);
  EXPECT_TRUE(ab_saw_a);
  EXPECT_GE(store.max_in_flight(), 2);
}

TEST_F(updater_test, concurrency_is_bounded_by_the_option) {
  make(2);
  test::gate never;
  store.on_write = [&](const std::string&) { never.wait(30ms); };
  std::vector<model::data_source_entry> entries;
  for (int i = 0; i < 8; ++i) {
    entries.push_back(inline_entry("/p" + std::to_string(i), "1"));
  }
  up->submit(make_update(std::move(entries)));
  ASSERT_TRUE(wait_idle());
  EXPECT_EQ(store.writes().size(), 8u);
  EXPECT_LE(store.max_in_flight(), 2);
}

TEST_F(updater_test, one_failed_entry_does_not_block_the_others) {
  make();
  store.fail_path("/bad", 500);
  std::optional<update_outcome> outcome;
  up->submit(make_update({inline_entry("/bad", "1"), url_entry("/missing", "http://src/none"),
                          inline_entry("/good", "3")}),
             [&](const update_outcome& o) { outcome = o; });
  ASSERT_TRUE(run_until(ioc, [&] { return outcome.has_value(); }));
  EXPECT_FALSE(outcome->ok);
  EXPECT_EQ(outcome->applied, 1u);
  EXPECT_EQ(outcome->failed, 2u);
  EXPECT_EQ(written_paths(), std::vector<std::string>{"/good"});
  // A write failure turns health off; a later successful write turns it back on.
  EXPECT_FALSE(state.health().healthy);
  EXPECT_NE(state.health().reason.find("/bad"), std::string::npos);
  EXPECT_EQ(state.destinations().at("/missing").failures, 1u);
  EXPECT_NE(state.destinations().at("/missing").last_error.find("404"), std::string::npos);

  store.clear_failures();
  up->submit(make_update({inline_entry("/bad", "5")}));
  ASSERT_TRUE(wait_idle());
  EXPECT_TRUE(state.health().healthy);
}

TEST_F(updater_test, a_fetch_failure_does_not_turn_health_off) {
  make();
  up->submit(make_update({url_entry("/missing", "http://src/none")}));
  ASSERT_TRUE(wait_idle());
  EXPECT_TRUE(state.health().healthy);
  EXPECT_EQ(state.destinations().at("/missing").failures, 1u);
}

TEST_F(updater_test, root_put_of_a_non_object_is_refused_never_wrapped) {
  make();
  fetcher.set("http://src/list", "[1,2]");
  std::optional<update_outcome> a, b;
  up->submit(make_update({inline_entry("", "[1,2]")}), [&](const update_outcome& o) { a = o; });
  ASSERT_TRUE(run_until(ioc, [&] { return a.has_value(); }));  // else b's PUT supersedes it
  up->submit(make_update({url_entry("/", "http://src/list")}),
             [&](const update_outcome& o) { b = o; });
  ASSERT_TRUE(run_until(ioc, [&] { return a && b; }));
  EXPECT_FALSE(a->ok);
  EXPECT_FALSE(b->ok);
  ASSERT_EQ(a->errors.size(), 1u);
  EXPECT_NE(a->errors[0].find("root"), std::string::npos);
  EXPECT_NE(b->errors[0].find("an array"), std::string::npos);
  EXPECT_TRUE(store.writes().empty());
  // Refusals are data problems: health stays on.
  EXPECT_TRUE(state.health().healthy);

  up->submit(make_update({inline_entry(".", R"({"all":{}})")}));
  up->submit(make_update({inline_entry("", R"([{"op":"add","path":"/x","value":1}])",
                                       {"policy_data"}, model::save_method::patch)}));
  ASSERT_TRUE(wait_idle());
  ASSERT_EQ(store.writes().size(), 2u);
  EXPECT_EQ(store.writes()[0].path, "");
  EXPECT_EQ(store.writes()[1].method, "PATCH");
}

TEST_F(updater_test, topic_filter_applies_entries_at_or_below_the_agent_topics) {
  make(4, {"policy_data", "billing"});
  up->submit(make_update({inline_entry("/a", "1", {"policy_data/users"}),
                          inline_entry("/b", "2", {"other"}),
                          inline_entry("/c", "3", {"policy_data_x"}),
                          inline_entry("/d", "4", {"x", "billing"})}));
  ASSERT_TRUE(wait_idle());
  auto paths = written_paths();
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/d"}));
}

TEST(topic_filter, base_entries_below_a_topic_match) {
  model::data_source_entry e;
  e.topics = {"policy_data/tenants/t1"};
  EXPECT_TRUE(entry_matches(e, {"policy_data"}));
  EXPECT_TRUE(entry_matches(e, {"policy_data/tenants"}));
  EXPECT_FALSE(entry_matches(e, {"policy_data/tenants/t2"}));
  EXPECT_FALSE(entry_matches(e, {"policy"}));
  e.topics = {};
  EXPECT_FALSE(entry_matches(e, {"policy_data"}));
}

TEST_F(updater_test, an_update_with_no_matching_entry_completes_ok) {
  make();
  std::optional<update_outcome> outcome;
  EXPECT_EQ(up->submit(make_update({inline_entry("/b", "2", {"other"})}),
                       [&](const update_outcome& o) { outcome = o; }),
            submit_result::queued);
  EXPECT_FALSE(outcome.has_value());  // never inline
  ASSERT_TRUE(run_until(ioc, [&] { return outcome.has_value(); }));
  EXPECT_TRUE(outcome->ok);
  EXPECT_EQ(outcome->applied, 0u);
}

TEST_F(updater_test, duplicate_id_and_seq_applies_once) {
  make();
  EXPECT_EQ(up->submit(make_update({inline_entry("/a", "1")}, "u1", 7)), submit_result::queued);
  EXPECT_EQ(up->submit(make_update({inline_entry("/a", "1")}, "u1", 7)),
            submit_result::duplicate);
  EXPECT_EQ(up->submit(make_update({inline_entry("/b", "2")}, "u1", 8)), submit_result::queued);
  // Updates without an id are never considered duplicates (distinct paths: a PUT to the same
  // path would supersede the queued one).
  EXPECT_EQ(up->submit(make_update({inline_entry("/c", "3")})), submit_result::queued);
  EXPECT_EQ(up->submit(make_update({inline_entry("/d", "3")})), submit_result::queued);
  ASSERT_TRUE(wait_idle());
  EXPECT_EQ(store.writes().size(), 4u);
}

TEST_F(updater_test, last_applied_seq_waits_for_earlier_updates) {
  make();
  test::gate release_slow;
  fetcher.set("http://src/slow", "1");
  fetcher.before_fetch = [&](const std::string&) { release_slow.wait(); };
  std::optional<std::uint64_t> seq_when_fast_done;
  bool fast_done = false;
  up->submit(make_update({url_entry("/slow", "http://src/slow")}, "u1", 1));
  up->submit(make_update({inline_entry("/fast", "2")}, "u2", 2), [&](const update_outcome&) {
    fast_done = true;
  });
  ASSERT_TRUE(run_until(ioc, [&] { return fast_done; }));
  seq_when_fast_done = up->last_applied_seq();
  release_slow.open();
  ASSERT_TRUE(wait_idle());
  EXPECT_FALSE(seq_when_fast_done.has_value());
  ASSERT_TRUE(up->last_applied_seq().has_value());
  EXPECT_EQ(*up->last_applied_seq(), 2u);
  EXPECT_EQ(state.last_applied_seq(), std::optional<std::uint64_t>(2));
}

TEST_F(updater_test, restart_sequence_forgets_the_watermark_of_the_old_log) {
  make();
  up->set_applied_seq(10);
  EXPECT_EQ(up->submit(make_update({inline_entry("/a", "1")}, "old3", 3)),
            submit_result::already_applied);
  up->restart_sequence();  // the server's new log numbers from 1 again
  EXPECT_EQ(up->submit(make_update({inline_entry("/a", "2")}, "new3", 3)), submit_result::queued);
  ASSERT_TRUE(wait_idle());
  EXPECT_EQ(store.writes().size(), 1u);
  EXPECT_EQ(up->last_applied_seq(), std::optional<std::uint64_t>(3));
}

TEST_F(updater_test, overflow_refuses_new_updates) {
  updater_options o;
  o.max_pending_entries = 2;
  up = std::make_unique<updater>(ioc, pool, fetcher, store, state, o);
  EXPECT_EQ(up->submit(make_update({inline_entry("/a", "1"), inline_entry("/b", "1")})),
            submit_result::queued);
  EXPECT_EQ(up->submit(make_update({inline_entry("/c", "1")})), submit_result::overflow);
  ASSERT_TRUE(wait_idle());
  EXPECT_EQ(store.writes().size(), 2u);
}

/** Every fetch fails with the exception the test names by the entry's url. */
class throwing_fetcher final : public test::blocking_fetcher {
 public:
  ~throwing_fetcher() override = default;
  fetched_body fetch_now(const model::data_source_entry& entry) override {
    if (entry.url == "http://src/blob") {
      throw blob_mismatch_error("blob 0123456789ab: expected sha256 0123456789ab... (7 bytes), "
                                "received sha256 fedcba987654... (7 bytes)");
    }
    if (entry.url == "http://src/secret") {
      throw secret_error("header 'X-Key': unknown secret");
    }
    throw fetch_error("invalid JSON from " + entry.url + ": at byte 3", true);
  }
};

TEST(updater_classification, blob_mismatch_has_its_own_reason) {
  net::io_context ioc;
  net::thread_pool pool{2};
  throwing_fetcher fetcher;
  test::fake_store store;
  agent_state state;
  state.set_engine_reachable(true);
  updater_options o;
  o.retry_attempts = 3;  // a permanent failure is not retried anyway
  updater up(ioc, pool, fetcher, store, state, o);
  std::optional<update_outcome> outcome;
  up.submit(make_update({url_entry("/a", "http://src/blob"), url_entry("/b", "http://src/secret"),
                         url_entry("/c", "http://src/json")}),
            [&](const update_outcome& out) { outcome = out; });
  ASSERT_TRUE(run_until(ioc, [&] { return outcome.has_value(); }));
  EXPECT_EQ(outcome->failed, 3u);
  ASSERT_EQ(outcome->errors.size(), 3u);
  ASSERT_EQ(outcome->failure_reasons.size(), 3u);
  std::map<std::string, failure_reason> by_error;
  for (std::size_t i = 0; i < outcome->errors.size(); ++i) {
    const std::string& e = outcome->errors[i];
    by_error[e.find("blob 0123456789ab") != std::string::npos ? "blob"
             : e.find("X-Key") != std::string::npos           ? "secret"
             : e.find("at byte 3") != std::string::npos       ? "json"
                                                              : e] = outcome->failure_reasons[i];
  }
  EXPECT_EQ(by_error.at("blob"), failure_reason::blob_mismatch);
  EXPECT_EQ(by_error.at("secret"), failure_reason::secret_missing);
  EXPECT_EQ(by_error.at("json"), failure_reason::invalid_payload);
  EXPECT_STREQ(to_string(failure_reason::blob_mismatch), "blob_mismatch");
  EXPECT_TRUE(store.writes().empty());
}

}  // namespace
}  // namespace pdl::agent
