#include "shared/config/agent_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/config/config_error.hpp"
#include "tests/unit/shared/config/config_problems.hpp"
#include "tests/unit/shared/config/yaml_file.hpp"

namespace pdl::config {
namespace {

using ::testing::HasSubstr;
using test::yaml_file;
using namespace std::chrono_literals;

std::vector<std::string> problems_of(const std::string& path, const env_map& env) {
  return test::problems_when_loading(load_agent_config, path, env);
}

TEST(AgentConfig, Defaults) {
  const auto c = load_agent_config("", {});
  EXPECT_EQ(c.server_urls, std::vector<std::string>{"http://localhost:7002"});
  EXPECT_TRUE(c.client_token.empty());
  EXPECT_EQ(c.data_topics, std::vector<std::string>{"policy_data"});
  EXPECT_EQ(c.policy_store_url, "http://localhost:8181");
  EXPECT_EQ(c.policy_store_auth_type, "none");
  EXPECT_EQ(c.fetch_idle_timeout, 10000ms);
  EXPECT_EQ(c.fetch_total_timeout, 600000ms);
  EXPECT_EQ(c.fetch_low_speed_limit, 0u);
  EXPECT_EQ(c.fetch_workers, 2);
  EXPECT_EQ(c.api_port, 7000);
  EXPECT_EQ(c.log_level, "info");
}

TEST(AgentConfig, ReadsEverySection) {
  yaml_file f(R"(
server:
  url: [https://a.example, "https://b.example"]
  token: tok
  data_config_url: https://a.example/data/config
  reconnect_min_ms: 100
  reconnect_max_ms: 5000
  ping_interval_seconds: 0
  max_message_bytes: 1024
data: {topics: [users, billing]}
policy_store: {url: "http://opa:8181", auth_type: token, auth_token: opa-tok, timeout_ms: 2000}
fetch:
  connect_timeout_ms: 1000
  idle_timeout_ms: 3000
  total_timeout_ms: 0
  low_speed_limit: 512
  low_speed_time_ms: 1500
  max_bytes: 4096
  max_redirects: 0
  workers: 8
  temp_dir: /tmp/x
api: {host: 0.0.0.0, port: 0}
log: {level: trace, format: json}
)");
  const auto c = load_agent_config(f.path(), {});
  EXPECT_EQ(c.server_urls, (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(c.client_token.reveal(), "tok");
  EXPECT_EQ(c.data_config_url, "https://a.example/data/config");
  EXPECT_EQ(c.reconnect_min, 100ms);
  EXPECT_EQ(c.reconnect_max, 5000ms);
  EXPECT_EQ(c.ws_ping_interval, 0s);
  EXPECT_EQ(c.ws_max_message_bytes, 1024u);
  EXPECT_EQ(c.data_topics, (std::vector<std::string>{"users", "billing"}));
  EXPECT_EQ(c.policy_store_url, "http://opa:8181");
  EXPECT_EQ(c.policy_store_auth_type, "token");
  EXPECT_EQ(c.policy_store_auth_token.reveal(), "opa-tok");
  EXPECT_EQ(c.store_timeout, 2000ms);
  EXPECT_EQ(c.fetch_connect_timeout, 1000ms);
  EXPECT_EQ(c.fetch_idle_timeout, 3000ms);
  EXPECT_EQ(c.fetch_total_timeout, 0ms);
  EXPECT_EQ(c.fetch_low_speed_limit, 512u);
  EXPECT_EQ(c.fetch_low_speed_time, 1500ms);
  EXPECT_EQ(c.fetch_max_bytes, 4096u);
  EXPECT_EQ(c.fetch_max_redirects, 0);
  EXPECT_EQ(c.fetch_workers, 8);
  EXPECT_EQ(c.temp_dir, "/tmp/x");
  EXPECT_EQ(c.api_host, "0.0.0.0");
  EXPECT_EQ(c.api_port, 0);
  EXPECT_EQ(c.log_level, "trace");
  EXPECT_EQ(c.log_format, "json");
}

TEST(AgentConfig, SingleUrlAndTopicStrings) {
  yaml_file f("server: {url: http://one:7002}\ndata: {topics: users}\n");
  const auto c = load_agent_config(f.path(), {});
  EXPECT_EQ(c.server_urls, std::vector<std::string>{"http://one:7002"});
  EXPECT_EQ(c.data_topics, std::vector<std::string>{"users"});
}

TEST(AgentConfig, EveryEnvOverride) {
  yaml_file f("data: {topics: [from_file]}\n");
  const env_map env = {
      {"OPAL_SERVER_URL", " http://s1:7002 , https://s2:7002,"},
      {"OPAL_CLIENT_TOKEN", "ct"},
      {"OPAL_DEFAULT_DATA_SOURCES_CONFIG_URL", "http://s1:7002/other"},
      {"OPAL_DATA_TOPICS", "users, billing"},
      {"OPAL_KEEP_ALIVE_INTERVAL", "15"},
      {"OPAL_POLICY_STORE_URL", "http://opa:8181"},
      {"OPAL_POLICY_STORE_AUTH_TYPE", "token"},
      {"OPAL_POLICY_STORE_AUTH_TOKEN", "ot"},
      {"OPAL_HTTP_FETCHER_TIMEOUT", "2.5"},
      {"OPAL_FETCHING_WORKER_COUNT", "6"},
      {"OPAL_CLIENT_API_SERVER_HOST", "0.0.0.0"},
      {"OPAL_CLIENT_API_SERVER_PORT", "7100"},
      {"OPAL_LOG_LEVEL", "ERROR"},
      {"OPAL_LOG_SERIALIZE", "true"},
  };
  const auto c = load_agent_config(f.path(), env);
  EXPECT_EQ(c.server_urls, (std::vector<std::string>{"http://s1:7002", "https://s2:7002"}));
  EXPECT_EQ(c.client_token.reveal(), "ct");
  EXPECT_EQ(c.data_config_url, "http://s1:7002/other");
  EXPECT_EQ(c.data_topics, (std::vector<std::string>{"users", "billing"}));
  EXPECT_EQ(c.ws_ping_interval, 15s);
  EXPECT_EQ(c.policy_store_url, "http://opa:8181");
  EXPECT_EQ(c.policy_store_auth_type, "token");
  EXPECT_EQ(c.policy_store_auth_token.reveal(), "ot");
  EXPECT_EQ(c.fetch_idle_timeout, 2500ms);
  EXPECT_EQ(c.fetch_workers, 6);
  EXPECT_EQ(c.api_host, "0.0.0.0");
  EXPECT_EQ(c.api_port, 7100);
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.log_format, "json");
}

TEST(AgentConfig, BadEnvValuesNameTheVariable) {
  EXPECT_THAT(problems_of("", {{"OPAL_HTTP_FETCHER_TIMEOUT", "0"},
                               {"OPAL_FETCHING_WORKER_COUNT", "65"},
                               {"OPAL_SERVER_URL", "ws://x"},
                               {"OPAL_POLICY_STORE_AUTH_TYPE", "oauth"},
                               {"OPAL_CLIENT_API_SERVER_PORT", "-1"}}),
              ::testing::UnorderedElementsAre(
                  HasSubstr("env OPAL_HTTP_FETCHER_TIMEOUT: '0' is not a number of seconds"),
                  HasSubstr("env OPAL_FETCHING_WORKER_COUNT: '65' is not a worker count (1..64)"),
                  HasSubstr("env OPAL_SERVER_URL: 'ws://x' is not an http(s) URL"),
                  HasSubstr("env OPAL_POLICY_STORE_AUTH_TYPE: 'oauth' is not supported"),
                  HasSubstr("env OPAL_CLIENT_API_SERVER_PORT: '-1' is not a port")));
}

TEST(AgentConfig, UnknownKeysAtEveryLevel) {
  yaml_file f("server: {servr: x}\nfetch: {workers: 2, wrokers: 3}\npolicystore: {}\n");
  EXPECT_THAT(
      problems_of(f.path(), {}),
      ::testing::UnorderedElementsAre(
          "server.servr: unknown key (expected one of: url, token, data_config_url, "
          "reconnect_min_ms, reconnect_max_ms, ping_interval_seconds, max_message_bytes)",
          HasSubstr("fetch.wrokers: unknown key (expected one of: connect_timeout_ms"),
          HasSubstr("policystore: unknown key (expected one of: server, data, policy_store")));
}

TEST(AgentConfig, CollectsAllProblemsAndCrossChecks) {
  yaml_file f(R"(
server: {url: [], reconnect_min_ms: 5000, reconnect_max_ms: 100}
data: {topics: [ok, {a: b}]}
policy_store: {auth_type: token, timeout_ms: 0}
fetch: {workers: 0, max_bytes: -1}
section_not_a_map: 1
)");
  const auto p = problems_of(f.path(), {});
  EXPECT_THAT(p, ::testing::IsSupersetOf(
                     {HasSubstr("server.url: at least one server URL"),
                      HasSubstr("server.reconnect_max_ms: must be >= server.reconnect_min_ms"),
                      HasSubstr("data.topics[1]: expected a string, got a mapping"),
                      HasSubstr("policy_store.timeout_ms: expected a duration in milliseconds"),
                      HasSubstr("policy_store.auth_token: auth_type is token but no token"),
                      HasSubstr("fetch.workers: expected a worker count (1..64), got 0"),
                      HasSubstr("fetch.max_bytes: expected a size in bytes"),
                      HasSubstr("section_not_a_map: unknown key")}));
}

TEST(AgentConfig, TopLevelMustBeAMapping) {
  yaml_file f("- just\n- a list\n");
  EXPECT_THAT(problems_of(f.path(), {}),
              ::testing::ElementsAre("(top level): expected a mapping, got a list"));
}

TEST(AgentConfig, QuotedNumberIsAString) {
  yaml_file f("api: {port: \"7000\"}\n");
  EXPECT_THAT(problems_of(f.path(), {}),
              ::testing::ElementsAre("api.port: expected a port, got a string"));
}

TEST(AgentConfig, PersistenceRetryAndReportDefaults) {
  const auto c = load_agent_config("", {});
  EXPECT_TRUE(c.data_dir.empty());
  EXPECT_TRUE(c.ready_when_stale);
  EXPECT_EQ(c.marker_interval, 5000ms);
  EXPECT_EQ(c.retry_attempts, 5);
  EXPECT_EQ(c.retry_base, 500ms);
  EXPECT_EQ(c.retry_max, 10000ms);
  EXPECT_FALSE(c.report_on_updates);
  EXPECT_TRUE(c.report_callbacks.empty());
}

TEST(AgentConfig, ReadsPersistenceRetryAndReportSections) {
  yaml_file f(R"(
agent: {data_dir: /var/lib/pdl, ready_when_stale: false, marker_check_interval_ms: 1000}
retry: {attempts: 3, base_ms: 100, max_ms: 2000}
reports: {enabled: true, callbacks: ["http://cb.example/report"]}
)");
  const auto c = load_agent_config(f.path(), {});
  EXPECT_EQ(c.data_dir, "/var/lib/pdl");
  EXPECT_FALSE(c.ready_when_stale);
  EXPECT_EQ(c.marker_interval, 1000ms);
  EXPECT_EQ(c.retry_attempts, 3);
  EXPECT_EQ(c.retry_base, 100ms);
  EXPECT_EQ(c.retry_max, 2000ms);
  EXPECT_TRUE(c.report_on_updates);
  EXPECT_EQ(c.report_callbacks, std::vector<std::string>{"http://cb.example/report"});
}

TEST(AgentConfig, PersistenceRetryAndReportEnvironment) {
  const auto c = load_agent_config(
      "", {{"OPAL_CLIENT_DATA_DIR", "/data"},
           {"OPAL_CLIENT_READY_WHEN_STALE", "false"},
           {"OPAL_DATA_UPDATER_CONN_RETRY",
            R"({"wait_strategy":"random_exponential","max_wait":4,"attempts":7,"wait_time":0.5})"},
           {"OPAL_SHOULD_REPORT_ON_DATA_UPDATES", "true"},
           {"OPAL_DEFAULT_UPDATE_CALLBACKS", R"({"callbacks":["http://s:7002/data/callback_report"]})"}});
  EXPECT_EQ(c.data_dir, "/data");
  EXPECT_FALSE(c.ready_when_stale);
  EXPECT_EQ(c.retry_attempts, 7);
  EXPECT_EQ(c.retry_base, 500ms);
  EXPECT_EQ(c.retry_max, 4000ms);
  EXPECT_TRUE(c.report_on_updates);
  EXPECT_EQ(c.report_callbacks, std::vector<std::string>{"http://s:7002/data/callback_report"});
}

TEST(AgentConfig, BadPersistenceRetryAndReportValuesAreNamed) {
  yaml_file f(R"(
agent: {ready_when_stale: maybe, marker_check_interval_ms: 0, extra: 1}
retry: {attempts: 0, base_ms: 5000, max_ms: 100}
reports: {callbacks: ["ftp://x"]}
)");
  EXPECT_THAT(problems_of(f.path(), {}),
              ::testing::IsSupersetOf({HasSubstr("agent.ready_when_stale"),
                                       HasSubstr("agent.marker_check_interval_ms"),
                                       HasSubstr("agent.extra: unknown key"),
                                       HasSubstr("retry.attempts"),
                                       HasSubstr("retry.max_ms: must be >= retry.base_ms"),
                                       HasSubstr("reports.callbacks: 'ftp://x' is not an http(s) URL")}));
  EXPECT_THAT(problems_of("", {{"OPAL_DATA_UPDATER_CONN_RETRY", "{\"attempts\":\"many\"}"},
                               {"OPAL_DEFAULT_UPDATE_CALLBACKS",
                                R"({"callbacks":[["http://x",{"headers":{}}]]})"},
                               {"OPAL_CLIENT_READY_WHEN_STALE", "perhaps"}}),
              ::testing::IsSupersetOf(
                  {HasSubstr("env OPAL_DATA_UPDATER_CONN_RETRY: attempts: expected an integer"),
                   HasSubstr("env OPAL_DEFAULT_UPDATE_CALLBACKS: callbacks[0]: expected a URL"),
                   HasSubstr("env OPAL_CLIENT_READY_WHEN_STALE")}));
  EXPECT_THAT(problems_of("", {{"OPAL_DATA_UPDATER_CONN_RETRY", "not json"}}),
              ::testing::ElementsAre(HasSubstr("expected a JSON object")));
}

}  // namespace
}  // namespace pdl::config

namespace pdl::config {
namespace {

TEST(AgentConfig, QueueBytesLimit) {
  EXPECT_EQ(load_agent_config("", {}).queue_bytes, 64u * 1024 * 1024);
  yaml_file ok("limits: {queue_bytes: 1048576}\n");
  EXPECT_EQ(load_agent_config(ok.path(), {}).queue_bytes, 1048576u);
  yaml_file bad("limits: {queue_bytes: 10, queue_entries: 5}\n");
  EXPECT_THAT(problems_of(bad.path(), {}),
              ::testing::IsSupersetOf({HasSubstr("limits.queue_bytes"),
                                       HasSubstr("limits.queue_entries: unknown key")}));
}

}  // namespace
}  // namespace pdl::config

namespace pdl::config {
namespace {

TEST(AgentConfig, FetchConcurrencyProxyAndHealthSettings) {
  const auto d = load_agent_config("", {});
  EXPECT_EQ(d.fetch_max_in_flight, 256);
  EXPECT_EQ(d.fetch_max_per_host, 6);
  EXPECT_EQ(d.fetch_degraded_after, 60000ms);
  EXPECT_FALSE(d.fetch_proxy);  // the environment's
  EXPECT_FALSE(d.fetch_no_proxy);

  test::yaml_file f(R"(
fetch:
  max_in_flight: 32
  max_per_host: 2
  degraded_after_ms: 0
  proxy: "http://user:pw@proxy.internal:3128"
  no_proxy: ".svc.cluster.local,10.0.0.0/8"
)");
  const auto c = load_agent_config(f.path(), {});
  EXPECT_EQ(c.fetch_max_in_flight, 32);
  EXPECT_EQ(c.fetch_max_per_host, 2);
  EXPECT_EQ(c.fetch_degraded_after, 0ms);
  EXPECT_EQ(c.fetch_proxy, "http://user:pw@proxy.internal:3128");
  EXPECT_EQ(c.fetch_no_proxy, ".svc.cluster.local,10.0.0.0/8");

  test::yaml_file none("fetch: {proxy: \"\"}\n");
  EXPECT_EQ(load_agent_config(none.path(), {}).fetch_proxy, "");

  test::yaml_file bad("fetch: {proxy: \"ftp://p:21\", max_in_flight: 0, max_per_host: -1}\n");
  EXPECT_THAT(test::problems_when_loading(load_agent_config, bad.path(), {}),
              ::testing::IsSupersetOf({::testing::HasSubstr("fetch.proxy: expected a proxy URL"),
                                       ::testing::HasSubstr("fetch.max_in_flight: expected"),
                                       ::testing::HasSubstr("fetch.max_per_host: expected")}));
}

}  // namespace
}  // namespace pdl::config

namespace pdl::config {
namespace {

TEST(AgentConfig, SecretsDirFromYamlOrEnvMustBeADirectory) {
  const std::string dir = ::testing::TempDir();
  test::yaml_file f("fetch: {secrets_dir: " + dir + "}\n");
  EXPECT_EQ(load_agent_config(f.path(), {}).fetch_secrets_dir, dir);
  EXPECT_EQ(load_agent_config("", {{"OPAL_FETCH_SECRETS_DIR", dir}}).fetch_secrets_dir, dir);
  auto problem = [](const std::string& yaml, const env_map& env) {
    test::yaml_file g(yaml);
    try {
      (void)load_agent_config(g.path(), env);
    } catch (const config_error& e) {
      return e.problems().at(0).where + ": " + e.problems().at(0).message;
    }
    return std::string();
  };
  EXPECT_EQ(problem("fetch: {secrets_dir: /no/such}\n", {}),
            "fetch.secrets_dir: '/no/such' is not a directory");
  EXPECT_EQ(problem("", {{"OPAL_FETCH_SECRETS_DIR", "/no/such"}}),
            "env OPAL_FETCH_SECRETS_DIR: '/no/such' is not a directory");
}

}  // namespace
}  // namespace pdl::config

namespace pdl::config {
namespace {

TEST(AgentConfig, OpalVariablesItDoesNotReadAreNamedWithTheReason) {
  const env_map env{{"OPAL_SERVER_URL", "http://s:7002"},        // read
                    {"OPAL_INLINE_OPA_ENABLED", "true"},
                    {"OPAL_POLICY_UPDATER_ENABLED", "false"},
                    {"OPAL_AUTH_MASTER_TOKEN", "m"},              // the server's
                    {"OPAL_CLIENT_TOKN", "typo"},
                    {"OPAL_SECRET_BILLING_TOKEN", "s3cr3t"},       // a secret by reference
                    {"OPAL_CLIENT_PORT", "tcp://10.0.0.8:7000"},   // a Kubernetes service link
                    {"PATH", "/usr/bin"}};
  const auto c = load_agent_config("", env);
  EXPECT_THAT(c.ignored_env,
              ::testing::ElementsAre(
                  HasSubstr("OPAL_AUTH_MASTER_TOKEN: an opal-server setting"),
                  HasSubstr("OPAL_CLIENT_TOKN: not an opal-client setting (a typo"),
                  HasSubstr("OPAL_INLINE_OPA_ENABLED: no inline OPA"),
                  HasSubstr("OPAL_POLICY_UPDATER_ENABLED: the agent loads data only")));
  for (const auto& line : c.ignored_env) {
    EXPECT_EQ(line.find("s3cr3t"), std::string::npos);
    EXPECT_EQ(line.find("OPAL_SECRET_"), std::string::npos);
  }
}

}  // namespace
}  // namespace pdl::config
