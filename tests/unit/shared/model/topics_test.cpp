#include "shared/model/topics.hpp"

#include <gtest/gtest.h>

#include "shared/model/data_update.hpp"

namespace pdl::model {
namespace {

using strings = std::vector<std::string>;

TEST(expand_topic, emits_every_prefix) {
  EXPECT_EQ(expand_topic("a/b/c"), (strings{"a", "a/b", "a/b/c"}));
  EXPECT_EQ(expand_topic("policy_data"), (strings{"policy_data"}));
}

TEST(expand_topic, keeps_the_part_before_the_rightmost_colon) {
  EXPECT_EQ(expand_topic("x:y:a/b"), (strings{"x:y:a", "x:y:a/b"}));
  EXPECT_EQ(expand_topic("scope1:data:policy_data/users"),
            (strings{"scope1:data:policy_data", "scope1:data:policy_data/users"}));
  // Slashes left of the colon are not split.
  EXPECT_EQ(expand_topic("a/b:c"), (strings{"a/b:c"}));
}

TEST(expand_topic, skips_empty_segments) {
  EXPECT_EQ(expand_topic("/a//b/"), (strings{"a", "a/b"}));
  EXPECT_TRUE(expand_topic("").empty());
  EXPECT_TRUE(expand_topic("///").empty());
  EXPECT_TRUE(expand_topic("p:").empty());
}

TEST(expand_topics, replaces_entry_topics_and_returns_the_union) {
  data_update u;
  data_source_entry e1;
  e1.topics = {"policy_data/users", "policy_data"};
  data_source_entry e2;
  e2.topics = {"policy_data/roles/admin"};
  data_source_entry e3;
  e3.topics = {};
  u.entries = {e1, e2, e3};
  const auto all = expand_topics(u);
  EXPECT_EQ(u.entries[0].topics, (strings{"policy_data", "policy_data/users"}));
  EXPECT_EQ(u.entries[1].topics,
            (strings{"policy_data", "policy_data/roles", "policy_data/roles/admin"}));
  EXPECT_TRUE(u.entries[2].topics.empty());
  EXPECT_EQ(all, (strings{"policy_data", "policy_data/users", "policy_data/roles",
                          "policy_data/roles/admin"}));
}

}  // namespace
}  // namespace pdl::model
