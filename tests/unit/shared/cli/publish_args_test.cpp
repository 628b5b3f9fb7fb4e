#include "shared/cli/publish_args.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pdl::cli {
namespace {

using ::testing::HasSubstr;

std::string error_of(const publish_flags& f) {
  try {
    (void)build_data_update(f);
  } catch (const model::invalid_input& e) {
    return e.what();
  }
  return "";
}

TEST(PublishArgs, SingleEntryFromFlags) {
  publish_flags f;
  f.src_url = "http://127.0.0.1:8090/users";
  f.topics = {"users", "billing"};
  f.src_config_json = R"({"headers":{"authorization":"bearer secret-token"}})";
  f.dst_path = "/users";
  f.save_method = "put";
  f.reason = "why";
  f.entries_json = R"([{"url":"http://ignored","topics":["x"]}])";  // replaced, as in OPAL
  auto u = build_data_update(f);
  ASSERT_EQ(u.entries.size(), 1u);
  const auto& e = u.entries[0];
  EXPECT_EQ(e.url, "http://127.0.0.1:8090/users");
  EXPECT_EQ(e.topics, (std::vector<std::string>{"users", "billing"}));
  EXPECT_EQ(e.dst_path, "/users");
  EXPECT_EQ(e.method, model::save_method::put);
  ASSERT_TRUE(e.config_json);
  EXPECT_EQ(nlohmann::json::parse(*e.config_json)["headers"]["authorization"],
            "bearer secret-token");
  EXPECT_FALSE(e.data_json);
  EXPECT_EQ(u.reason, "why");
}

TEST(PublishArgs, DefaultsLikeOpal) {
  publish_flags f;
  f.src_url = "https://src.example/data";
  auto u = build_data_update(f);
  const auto& e = u.entries.at(0);
  EXPECT_EQ(e.topics, std::vector<std::string>{"policy_data"});
  EXPECT_EQ(e.config_json, "{}");
  EXPECT_EQ(e.dst_path, "");
  EXPECT_EQ(u.reason, "");
}

TEST(PublishArgs, FetchedByNamesWhoFetches) {
  publish_flags f;
  f.src_url = "https://src.example/data";
  EXPECT_FALSE(build_data_update(f).entries.at(0).fetched_by) << "the server's default";
  f.fetched_by = "server";
  EXPECT_EQ(build_data_update(f).entries.at(0).fetched_by, model::fetched_by::server);
  f.fetched_by = "agent";
  EXPECT_EQ(build_data_update(f).entries.at(0).fetched_by, model::fetched_by::agent);
  f.fetched_by = "both";
  EXPECT_EQ(error_of(f), "--fetched-by: 'both' is not agent or server");
}

TEST(PublishArgs, InlineDataWithoutUrl) {
  publish_flags f;
  f.data_json = R"([{"op":"remove","path":"/bob"}])";
  f.save_method = "PATCH";
  f.dst_path = "/users";
  f.topics = {"users"};
  auto u = build_data_update(f);
  const auto& e = u.entries.at(0);
  EXPECT_EQ(e.url, "");
  EXPECT_EQ(e.method, model::save_method::patch);
  EXPECT_EQ(nlohmann::json::parse(*e.data_json), nlohmann::json::parse(*f.data_json));
}

TEST(PublishArgs, EntriesList) {
  publish_flags f;
  f.entries_json = R"([{"url":"http://a/x","topics":["t1"],"dst_path":"/a"},
                       {"url":"","data":{"k":1},"topics":["t2"],"dst_path":"/b"}])";
  auto u = build_data_update(f);
  ASSERT_EQ(u.entries.size(), 2u);
  EXPECT_EQ(u.entries[0].url, "http://a/x");
  EXPECT_EQ(u.entries[1].topics, std::vector<std::string>{"t2"});
}

TEST(PublishArgs, ErrorsNameTheFlag) {
  publish_flags f;
  f.src_url = "http://a/x";
  f.src_config_json = "{not json";
  EXPECT_THAT(error_of(f), HasSubstr("--src-config: invalid JSON: "));
  f.src_config_json = "[1]";
  EXPECT_EQ(error_of(f), "--src-config: expected a JSON object");
  f.src_config_json = R"({"headers": 5})";
  EXPECT_THAT(error_of(f), HasSubstr("--src-config: "));
  f.src_config_json.reset();
  f.data_json = "{,}";
  EXPECT_THAT(error_of(f), HasSubstr("--data: invalid JSON: "));
  f.data_json.reset();
  f.save_method = "POST";
  EXPECT_EQ(error_of(f), "--save-method: 'POST' is not PUT or PATCH");

  publish_flags g;
  g.entries_json = "{}";
  EXPECT_EQ(error_of(g), "--entries: expected a JSON list of entries");
  g.entries_json = "[]";
  EXPECT_THAT(error_of(g), HasSubstr("--entries: the list is empty"));
  g.entries_json = R"([{"url":"http://a","save_method":"POST"}])";
  EXPECT_THAT(error_of(g), HasSubstr("--entries[0].save_method"));
  EXPECT_THAT(error_of(publish_flags{}), HasSubstr("nothing to publish"));
}

TEST(PublishArgs, InvalidJsonErrorDoesNotQuoteTheInput) {
  publish_flags f;
  f.src_url = "http://a/x";
  f.src_config_json = R"({"headers":{"authorization":"bearer hush-hush)";
  EXPECT_THAT(error_of(f), ::testing::Not(HasSubstr("hush-hush")));
}

TEST(PublishArgs, LocalValidationRunsBeforeSending) {
  publish_flags f;
  f.data_json = R"([{"op":"move","from":"/a","path":"/b"}])";
  f.save_method = "PATCH";
  EXPECT_FALSE(error_of(f).empty());  // OPA refuses move: we refuse first
}

TEST(PublishArgs, Ttl) {
  EXPECT_EQ(parse_ttl({"3600"}), 3600);
  EXPECT_EQ(parse_ttl({"365", "days"}), 365.0 * 86400);
  EXPECT_EQ(parse_ttl({"2", "weeks"}), 14.0 * 86400);
  EXPECT_EQ(parse_ttl({"1", "hour"}), 3600);
  EXPECT_EQ(parse_ttl({"90", "Minutes"}), 5400);
  EXPECT_EQ(parse_ttl({"1.5", "seconds"}), 1.5);
  EXPECT_THROW(parse_ttl({"0"}), model::invalid_input);
  EXPECT_THROW(parse_ttl({"-1", "days"}), model::invalid_input);
  EXPECT_THROW(parse_ttl({"abc"}), model::invalid_input);
  EXPECT_THROW(parse_ttl({}), model::invalid_input);
  try {
    parse_ttl({"3", "fortnights"});
    FAIL();
  } catch (const model::invalid_input& e) {
    EXPECT_THAT(e.what(), HasSubstr("--ttl: 'fortnights' is not a unit"));
  }
}

TEST(PublishArgs, Claims) {
  EXPECT_EQ(parse_claims(R"({"permitted_topics":["a"]})")["permitted_topics"][0], "a");
  EXPECT_THROW(parse_claims("[1]"), model::invalid_input);
  EXPECT_THROW(parse_claims("{"), model::invalid_input);
}

TEST(PublishArgs, Wait) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parse_wait(""), milliseconds(30000));  // --wait without a value
  EXPECT_EQ(parse_wait("5"), milliseconds(5000));
  EXPECT_EQ(parse_wait("0.25"), milliseconds(250));
  EXPECT_EQ(parse_wait("86400"), milliseconds(86400000));
  for (const char* bad : {"0", "-3", "nan", "inf", "5s", "abc", "86401", "secret-token"}) {
    try {
      (void)parse_wait(bad);
      ADD_FAILURE() << bad;
    } catch (const model::invalid_input& e) {
      // A fixed message: the value is never quoted, it may be a misplaced token.
      EXPECT_STREQ(e.what(), "--wait: expected a number of seconds, more than 0 and at most 86400");
    }
  }
}

}  // namespace
}  // namespace pdl::cli
