#include "shared/model/paths.hpp"

#include <gtest/gtest.h>

#include "shared/model/errors.hpp"

namespace pdl::model {
namespace {

using strings = std::vector<std::string>;

TEST(split_dst_path, treats_empty_slash_and_dot_as_the_root) {
  EXPECT_TRUE(split_dst_path("").empty());
  EXPECT_TRUE(split_dst_path("/").empty());
  EXPECT_TRUE(split_dst_path(".").empty());
}

TEST(split_dst_path, leading_slash_is_optional_and_one_trailing_slash_is_dropped) {
  EXPECT_EQ(split_dst_path("users"), (strings{"users"}));
  EXPECT_EQ(split_dst_path("/users/bob"), (strings{"users", "bob"}));
  EXPECT_EQ(split_dst_path("/a/b/"), (strings{"a", "b"}));
  EXPECT_EQ(split_dst_path("a%2Fb/c d"), (strings{"a%2Fb", "c d"}));  // raw, not decoded
}

TEST(split_dst_path, refuses_empty_dot_and_dotdot_segments) {
  for (const char* bad : {"/a//b", "//a", "/a/./b", "/a/../b", "a//", "/..", "./a"}) {
    try {
      split_dst_path(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const invalid_input& e) {
      EXPECT_EQ(e.path(), "dst_path");
      EXPECT_NE(e.message().find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(normalize_dst_path, gives_the_canonical_form) {
  EXPECT_EQ(normalize_dst_path(""), "");
  EXPECT_EQ(normalize_dst_path("."), "");
  EXPECT_EQ(normalize_dst_path("users"), "/users");
  EXPECT_EQ(normalize_dst_path("/users/"), "/users");
  EXPECT_EQ(normalize_dst_path("a/b"), "/a/b");
}

TEST(opa_data_url_path, builds_the_data_api_path) {
  EXPECT_EQ(opa_data_url_path("users"), "/v1/data/users");
  EXPECT_EQ(opa_data_url_path(""), "/v1/data");
  EXPECT_EQ(opa_data_url_path("/"), "/v1/data");
  EXPECT_EQ(opa_data_url_path("/a/b/"), "/v1/data/a/b");
  EXPECT_EQ(opa_data_url_path("/A-z_0.9~"), "/v1/data/A-z_0.9~");
}

TEST(opa_data_url_path, percent_encodes_each_segment_literally) {
  EXPECT_EQ(opa_data_url_path("a%2Fb"), "/v1/data/a%252Fb");
  EXPECT_EQ(opa_data_url_path("/users/bob smith?x#y"), "/v1/data/users/bob%20smith%3Fx%23y");
  EXPECT_EQ(opa_data_url_path("/caf\xc3\xa9:1"), "/v1/data/caf%C3%A9%3A1");
}

TEST(paths_overlap, compares_segment_wise) {
  EXPECT_TRUE(paths_overlap("/a", "/a"));
  EXPECT_TRUE(paths_overlap("/a", "/a/b"));
  EXPECT_TRUE(paths_overlap("/a/b", "/a"));
  EXPECT_FALSE(paths_overlap("/a", "/ab"));
  EXPECT_FALSE(paths_overlap("/ab", "/a"));
  EXPECT_FALSE(paths_overlap("/a/b", "/a/c"));
  EXPECT_TRUE(paths_overlap("", "/x/y"));
  EXPECT_TRUE(paths_overlap("/x", ""));
  EXPECT_TRUE(paths_overlap("/", "/x"));
  EXPECT_TRUE(paths_overlap("", ""));
}

}  // namespace
}  // namespace pdl::model
