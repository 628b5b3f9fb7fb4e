#include "tests/fakes/opa_standin/data_store.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pdl::fakes {
namespace {

using nlohmann::json;

// Found by fuzz_store_patch: "/01/1/k" and "/01/01" name the same array element differently,
// so the newer array write did not mask the older write inside it, and the commit walked into
// a number and threw (the stand-in process would have died on this PATCH).
TEST(data_store, a_patch_naming_one_array_element_two_ways_commits_without_throwing) {
  data_store store;
  ASSERT_EQ(store.put({}, json::parse(R"({"01":[{},[[1,1],{"1":{}}]]})"), false).index(), 0u);
  std::vector<store_patch> ops;
  ops.push_back({patch_op::add, {"01", "1", "1", "1"}, json::parse("[[{}]]")});
  ops.push_back({patch_op::replace, {"01", "01", "01"}, json(1)});
  EXPECT_FALSE(store.patch(std::move(ops)).has_value());
  // The newer write replaced the element the older one went into: only the newer one shows.
  EXPECT_EQ(store.root(), json::parse(R"({"01":[{},[[1,1],1]]})"));
}

TEST(data_store, a_patch_naming_one_array_element_one_way_keeps_both_writes) {
  data_store store;
  ASSERT_EQ(store.put({}, json::parse(R"({"a":[{"k":0},{"k":0}]})"), false).index(), 0u);
  std::vector<store_patch> ops;
  ops.push_back({patch_op::replace, {"a", "1", "k"}, json(5)});
  ops.push_back({patch_op::add, {"a", "0", "j"}, json(6)});
  EXPECT_FALSE(store.patch(std::move(ops)).has_value());
  EXPECT_EQ(store.root(), json::parse(R"({"a":[{"j":6,"k":0},{"k":5}]})"));
}

}  // namespace
}  // namespace pdl::fakes
