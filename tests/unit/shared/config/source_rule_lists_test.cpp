#include "shared/config/source_rule_lists.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/config/agent_config.hpp"
#include "shared/config/server_config.hpp"
#include "tests/unit/shared/config/config_problems.hpp"
#include "tests/unit/shared/config/yaml_file.hpp"

namespace pdl::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using test::yaml_file;

using strings = std::vector<std::string>;

TEST(SourceRuleLists, NoneByDefault) {
  EXPECT_THAT(load_agent_config("", {}).fetch_allow, IsEmpty());
  EXPECT_THAT(load_agent_config("", {}).fetch_deny, IsEmpty());
  EXPECT_THAT(load_server_config("", {}).fetch_allow, IsEmpty());
  EXPECT_THAT(load_server_config("", {}).fetch_deny, IsEmpty());
}

TEST(SourceRuleLists, AgentReadsYamlLists) {
  yaml_file f(R"(
fetch:
  allow: ["https://api.example.com/v1/", "*.data.example.com", 10.0.0.0/8]
  deny:
    - 10.9.0.0/16
    - "[::1]:8181"
)");
  const auto c = load_agent_config(f.path(), {});
  EXPECT_EQ(c.fetch_allow,
            (strings{"https://api.example.com/v1/", "*.data.example.com", "10.0.0.0/8"}));
  EXPECT_EQ(c.fetch_deny, (strings{"10.9.0.0/16", "[::1]:8181"}));
}

TEST(SourceRuleLists, ASingleStringIsAOneEntryList) {
  yaml_file f("fetch: {deny: evil.example.com}\n");
  EXPECT_EQ(load_agent_config(f.path(), {}).fetch_deny, strings{"evil.example.com"});
}

TEST(SourceRuleLists, EnvironmentListsAreCommaSeparatedAndReplaceTheFile) {
  yaml_file f("fetch: {allow: [a.example.com], deny: [b.example.com]}\n");
  const env_map env = {{"OPAL_FETCH_ALLOW", " https://api.example.com/v1/ , 10.0.0.0/8,,"},
                       {"OPAL_FETCH_DENY", "169.254.0.0/16"}};
  const auto agent = load_agent_config(f.path(), env);
  EXPECT_EQ(agent.fetch_allow, (strings{"https://api.example.com/v1/", "10.0.0.0/8"}));
  EXPECT_EQ(agent.fetch_deny, strings{"169.254.0.0/16"});
  const auto server = load_server_config("", env);
  EXPECT_EQ(server.fetch_allow, (strings{"https://api.example.com/v1/", "10.0.0.0/8"}));
  EXPECT_EQ(server.fetch_deny, strings{"169.254.0.0/16"});
  // An empty variable counts as unset.
  EXPECT_EQ(load_agent_config(f.path(), {{"OPAL_FETCH_DENY", ""}}).fetch_deny,
            strings{"b.example.com"});
}

TEST(SourceRuleLists, BadYamlEntriesAreNamedByPathAndIndex) {
  yaml_file f(R"(
fetch:
  allow: [ok.example.com, "10.0.0.1/8"]
  deny: ["*", "https://u:s3cr3t@x.example.com/"]
)");
  const auto problems = test::problems_when_loading(load_agent_config, f.path(), {});
  EXPECT_THAT(problems,
              ElementsAre(HasSubstr("fetch.allow[1]: '10.0.0.1/8': bits are set past the prefix "
                                    "length (the network is 10.0.0.0/8)"),
                          HasSubstr("fetch.deny[0]: '*': '*' alone would match every host name"),
                          HasSubstr("fetch.deny[1]: 'https://x.example.com/': a URL prefix cannot "
                                    "hold user info")));
  for (const auto& p : problems) {
    EXPECT_THAT(p, Not(HasSubstr("s3cr3t")));
  }
}

TEST(SourceRuleLists, BadEnvironmentEntriesAreNamedByVariableAndItem) {
  const env_map env = {{"OPAL_FETCH_ALLOW", "ok.example.com, 1.2.3"},
                       {"OPAL_FETCH_DENY", "fe80::/129"}};
  EXPECT_THAT(test::problems_when_loading(load_agent_config, "", env),
              ElementsAre("env OPAL_FETCH_ALLOW: item 1: '1.2.3': not an IPv4 address (four "
                          "decimal numbers expected, as in 10.0.0.0/8)",
                          "env OPAL_FETCH_DENY: item 0: 'fe80::/129': the prefix length is not a "
                          "number from 0 to 128"));
  EXPECT_THAT(test::problems_when_loading(load_server_config, "", env),
              ElementsAre(HasSubstr("env OPAL_FETCH_ALLOW: item 1"),
                          HasSubstr("env OPAL_FETCH_DENY: item 0")));
}

TEST(SourceRuleLists, ServerReadsTheSameSection) {
  yaml_file f("fetch:\n  deny: [internal.example.com]\n  allow: ['https://api.example.com/']\n");
  const auto c = load_server_config(f.path(), {});
  EXPECT_EQ(c.fetch_deny, strings{"internal.example.com"});
  EXPECT_EQ(c.fetch_allow, strings{"https://api.example.com/"});
  yaml_file bad("fetch: {deny: ['a*b'], workers: 2}\n");
  EXPECT_THAT(test::problems_when_loading(load_server_config, bad.path(), {}),
              ElementsAre(HasSubstr("fetch.deny[0]: 'a*b': '*' is only allowed"),
                          HasSubstr("fetch.workers: unknown key (expected one of: allow, deny)")));
}

}  // namespace
}  // namespace pdl::config
