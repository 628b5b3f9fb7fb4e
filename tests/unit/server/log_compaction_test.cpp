#include "server/log_compaction.hpp"

#include <random>

#include <gtest/gtest.h>

#include "tests/unit/server/state_model.hpp"

namespace pdl::server {
namespace {

using nlohmann::json;

entry_key key(std::vector<std::string> topics, std::string path, bool put) {
  return entry_key{std::move(topics), std::move(path), put};
}

std::vector<bool> needed(const std::vector<std::vector<entry_key>>& updates) {
  std::vector<const std::vector<entry_key>*> ptrs;
  for (const auto& u : updates) {
    ptrs.push_back(&u);
  }
  return needed_updates(ptrs);
}

TEST(log_compaction, strict_ancestors_of_a_path) {
  EXPECT_EQ(strict_ancestors(""), std::vector<std::string>{});
  EXPECT_EQ(strict_ancestors("/a"), std::vector<std::string>{""});
  EXPECT_EQ(strict_ancestors("/a/b/c"), (std::vector<std::string>{"", "/a", "/a/b"}));
}

TEST(log_compaction, the_last_put_per_key_and_the_patches_after_it_survive) {
  auto n = needed({
      {key({"t"}, "/a", true)},   // superseded by 3
      {key({"t"}, "/a", false)},  // superseded by 3
      {key({"t"}, "/a", true)},   // last PUT
      {key({"t"}, "/a", false)},  // after the last PUT
      {key({"t"}, "/b", true)},   // other key
  });
  EXPECT_EQ(n, (std::vector<bool>{false, false, true, true, true}));
}

TEST(log_compaction, keys_are_per_topic_and_an_update_lives_while_one_entry_does) {
  auto n = needed({
      {key({"t1", "t2"}, "/a", true)},                     // t2 subscribers still need it
      {key({"t1"}, "/a", true)},                           // last for t1
      {key({"t1"}, "/x", true), key({"t1"}, "/y", true)},  // /x superseded, /y not
      {key({"t1"}, "/x", true)},
  });
  EXPECT_EQ(n, (std::vector<bool>{true, true, true, true}));
  auto m = needed({{key({"t1", "t2"}, "/a", true)}, {key({"t1", "t2"}, "/a", true)}});
  EXPECT_EQ(m, (std::vector<bool>{false, true}));
}

TEST(log_compaction, a_patch_on_an_ancestor_in_between_keeps_the_entry) {
  auto n = needed({
      {key({"t"}, "/a/b", true)},
      {key({"t"}, "/a", false)},  // may read /a/b: the PUT before it must stay
      {key({"t"}, "/a/b", true)},
  });
  EXPECT_EQ(n, (std::vector<bool>{true, true, true}));
  auto m = needed({
      {key({"t"}, "/a/b", true)},
      {key({"t"}, "/a/b/c", false)},  // its own key (kept: keys are exact paths)
      {key({"t"}, "/a/b", true)},
  });
  EXPECT_EQ(m, (std::vector<bool>{false, true, true}));
}

/** Random PUT/PATCH histories over overlapping paths and two topics: replaying only the needed
 *  updates, from the start or from any point an agent may have reached, ends in the same state
 *  as replaying all of them, for every subscription. */
TEST(log_compaction, compacted_replay_rebuilds_the_same_state) {
  std::mt19937 rng(20261128);
  const std::vector<std::string> paths = {"", "/a", "/a/b", "/a/c", "/b", "/b/x"};
  const std::vector<std::vector<std::string>> topic_sets = {{"t1"}, {"t2"}, {"t1", "t2"}};
  const std::vector<std::set<std::string>> subscriptions = {{"t1"}, {"t2"}, {"t1", "t2"}};
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  for (int round = 0; round < 40; ++round) {
    std::vector<model::data_update> updates;
    std::vector<std::vector<entry_key>> keys;
    for (int i = 0; i < 60; ++i) {
      model::data_update u;
      std::vector<entry_key> k;
      std::size_t entries = 1 + pick(2);
      for (std::size_t j = 0; j < entries; ++j) {
        model::data_source_entry e;
        e.topics = topic_sets[pick(topic_sets.size())];
        e.dst_path = paths[pick(paths.size())];
        if (pick(3) == 0) {
          e.method = model::save_method::patch;
          std::string field = pick(2) == 0 ? "/k" : "/b";
          const char* ops[] = {"add", "replace", "remove"};
          json op = {{"op", ops[pick(3)]}, {"path", field}};
          if (op["op"] != "remove") {
            op["value"] = static_cast<int>(pick(100));
          }
          json list = json::array({op});
          if (pick(2) == 0) {
            list.push_back({{"op", "add"}, {"path", "/z"}, {"value", i}});
          }
          e.data_json = list.dump();
        } else {
          json v = {{"v", i}};
          if (pick(2) == 0) {
            v["b"] = {{"x", static_cast<int>(pick(10))}};
          }
          e.data_json = v.dump();
        }
        k.push_back(key(e.topics, model::normalize_dst_path(e.dst_path),
                        e.method == model::save_method::put));
        u.entries.push_back(std::move(e));
      }
      updates.push_back(std::move(u));
      keys.push_back(std::move(k));
    }
    auto keep = needed(keys);
    for (const auto& sub : subscriptions) {
      for (std::size_t start : {std::size_t{0}, std::size_t{10}, std::size_t{30}}) {
        json base = json::object();
        for (std::size_t i = 0; i < start; ++i) {
          testing::apply_update(base, updates[i], sub);
        }
        json full = base;
        json compacted = base;
        for (std::size_t i = start; i < updates.size(); ++i) {
          testing::apply_update(full, updates[i], sub);
          if (keep[i]) {
            testing::apply_update(compacted, updates[i], sub);
          }
        }
        ASSERT_EQ(full, compacted) << "round " << round << " start " << start;
      }
    }
    EXPECT_LT(std::count(keep.begin(), keep.end(), true), 60);
  }
}

}  // namespace
}  // namespace pdl::server
