#include "agent/source_policy.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "agent/http_fetcher.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/mini_http_server.hpp"

namespace pdl::agent {
namespace {

using test::mini_http_server;

std::string verdict(const http_client::source_rules& rules, const std::string& url) {
  auto r = rules.check_url(url);
  return r ? r->message : "";
}

config::agent_config config_with(const config::env_map& env) {
  return config::load_agent_config("", env);
}

TEST(agent_source_rules, DenyTheStoreAndTheApiAndKeepTheDefaults) {
  const auto rules = agent_source_rules(config_with({{"OPAL_POLICY_STORE_URL",
                                                      "http://localhost:18181"},
                                                     {"OPAL_CLIENT_API_SERVER_PORT", "17000"}}));
  EXPECT_EQ(verdict(rules, "http://127.0.0.1:18181/v1/data/private"),
            "denied by default rule '127.0.0.0/8:18181' (the agent's policy store)");
  EXPECT_EQ(verdict(rules, "http://localhost:18181/v1/data"),
            "denied by default rule 'localhost:18181' (the agent's policy store)");
  EXPECT_EQ(verdict(rules, "http://127.0.0.1:17000/status"),
            "denied by default rule '127.0.0.1:17000' (the agent's API)");
  EXPECT_NE(verdict(rules, "http://169.254.169.254/"), "");
  EXPECT_EQ(verdict(rules, "http://127.0.0.1:8080/data"), "");
}

TEST(agent_source_rules, AnApiOnAnEphemeralPortIsNotDeniedByPort) {
  const auto rules = agent_source_rules(config_with({{"OPAL_CLIENT_API_SERVER_PORT", "0"}}));
  EXPECT_EQ(verdict(rules, "http://127.0.0.1:7000/status"), "");
  EXPECT_NE(verdict(rules, "http://127.0.0.1:8181/v1/data"), "");  // the default store
}

TEST(agent_source_rules, ConfiguredListsApply) {
  const auto rules = agent_source_rules(config_with({{"OPAL_FETCH_DENY", "*.corp.example.com"},
                                                     {"OPAL_FETCH_ALLOW", "10.0.0.0/8"}}));
  EXPECT_EQ(verdict(rules, "http://a.corp.example.com/"),
            "denied by fetch.deny rule '*.corp.example.com'");
  EXPECT_EQ(verdict(rules, "http://192.168.0.1/"), "not in fetch.allow");
  EXPECT_EQ(verdict(rules, "http://10.0.0.1/"), "");
}

TEST(agent_source_rules, TheFetcherRefusesAPermanentRefusedError) {
  mini_http_server store([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"result":{"secret":1}})");
  });
  auto cfg = config_with({{"OPAL_POLICY_STORE_URL", store.url("")}});
  http_fetcher_options o;
  o.rules = std::make_shared<const http_client::source_rules>(agent_source_rules(cfg));
  http_fetcher f(o);
  model::data_source_entry e;
  e.url = store.url("/v1/data/private?token=s3cr3t");
  e.dst_path = "/copied";
  try {
    test::fetch_sync(f, e);
    FAIL() << "fetched the agent's own store";
  } catch (const fetch_error& err) {
    EXPECT_TRUE(err.refused());
    EXPECT_TRUE(err.permanent());
    const std::string what = err.what();
    EXPECT_NE(what.find("request refused: denied by default rule '127.0.0.1:" +
                        std::to_string(store.port()) + "' (the agent's policy store)"),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find("s3cr3t"), std::string::npos) << what;
  }

  // Without the rules the same fetch succeeds: the refusal above is theirs.
  http_fetcher open(http_fetcher_options{});
  EXPECT_NO_THROW(test::fetch_sync(open, e));
}

TEST(agent_source_rules, OtherFetchErrorsAreNotRefusals) {
  EXPECT_FALSE(fetch_error("x", true, 404).refused());
  EXPECT_TRUE(fetch_error("x", false, 0, false, true).permanent());
}

}  // namespace
}  // namespace pdl::agent
