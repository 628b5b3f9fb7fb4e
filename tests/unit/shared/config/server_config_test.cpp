#include "shared/config/server_config.hpp"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/config/config_error.hpp"
#include "tests/unit/shared/config/config_problems.hpp"
#include "tests/unit/shared/config/yaml_file.hpp"

namespace pdl::config {
namespace {

using ::testing::HasSubstr;
using test::yaml_file;

/** Runs the loader and returns the problems it reported ("where: message" strings). */
std::vector<std::string> problems_of(const std::string& path, const env_map& env) {
  return test::problems_when_loading(load_server_config, path, env);
}

TEST(ServerConfig, DefaultsWithoutFileOrEnv) {
  const auto c = load_server_config("", {});
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 7002);
  EXPECT_EQ(c.threads, 2);
  EXPECT_TRUE(c.auth_enabled);
  EXPECT_TRUE(c.master_token.empty());
  EXPECT_EQ(c.private_key_format, auth::key_format::pem);
  EXPECT_EQ(c.public_key_format, auth::key_format::ssh);
  // One harmless inline entry, so an OPAL client's first data transaction succeeds.
  ASSERT_EQ(c.data_config_entries.size(), 1U);
  EXPECT_EQ(c.data_config_entries[0].dst_path, "/pdl/base");
  EXPECT_EQ(c.data_config_entries[0].topics, std::vector<std::string>{"policy_data"});
  EXPECT_EQ(c.data_config_entries[0].data_json, R"({"loaded":true})");
  EXPECT_FALSE(c.external_source_url);
  EXPECT_EQ(c.data_config_route, "/data/config");
  EXPECT_TRUE(c.policy_dir.empty());
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_format, "text");
}

TEST(ServerConfig, ReadsEverySection) {
  yaml_file f(R"(
server: {host: 0.0.0.0, port: 8000, threads: 4}
auth:
  enabled: false
  master_token: m-secret
  private_key: /keys/priv.pem
  private_key_format: ssh
  private_key_passphrase: pass
  public_key: ssh-rsa AAAA
  public_key_format: pem
  jwt_audience: aud
  jwt_issuer: iss
data:
  config_route: /cfg
  config_sources:
    config:
      entries:
        - url: https://api.example.com/users
          topics: [users]
          dst_path: /users
          config: {headers: {Authorization: "Bearer x"}}
        - url: ""
          topics: [static]
          dst_path: /static
          data: {seed: {bootstrapped: true, count: 3}}
limits:
  max_body_bytes: 1000
  max_header_bytes: 2000
  ws_max_message_bytes: 3000
  ws_send_queue: 10
  max_connections: 50
  http_read_timeout_seconds: 7
  ws_ping_interval_seconds: 0
  retained_updates: 5
log: {level: DEBUG, format: json}
)");
  const auto c = load_server_config(f.path(), {});
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.threads, 4);
  EXPECT_FALSE(c.auth_enabled);
  EXPECT_EQ(c.master_token.reveal(), "m-secret");
  EXPECT_EQ(c.private_key.reveal(), "/keys/priv.pem");
  EXPECT_EQ(c.private_key_format, auth::key_format::ssh);
  EXPECT_EQ(c.private_key_passphrase.reveal(), "pass");
  EXPECT_EQ(c.public_key, "ssh-rsa AAAA");
  EXPECT_EQ(c.public_key_format, auth::key_format::pem);
  EXPECT_EQ(c.jwt_audience, "aud");
  EXPECT_EQ(c.jwt_issuer, "iss");
  EXPECT_EQ(c.data_config_route, "/cfg");
  ASSERT_EQ(c.data_config_entries.size(), 2u);
  EXPECT_EQ(c.data_config_entries[0].url, "https://api.example.com/users");
  EXPECT_EQ(c.data_config_entries[0].topics, std::vector<std::string>{"users"});
  ASSERT_TRUE(c.data_config_entries[1].data_json);
  EXPECT_EQ(nlohmann::json::parse(*c.data_config_entries[1].data_json),
            nlohmann::json::parse(R"({"seed":{"bootstrapped":true,"count":3}})"));
  EXPECT_EQ(c.max_body_bytes, 1000u);
  EXPECT_EQ(c.max_header_bytes, 2000u);
  EXPECT_EQ(c.ws_max_message_bytes, 3000u);
  EXPECT_EQ(c.ws_send_queue_max, 10u);
  EXPECT_EQ(c.max_connections, 50u);
  EXPECT_EQ(c.http_read_timeout, std::chrono::seconds(7));
  EXPECT_EQ(c.ws_ping_interval, std::chrono::seconds(0));
  EXPECT_EQ(c.log_retained_updates, 5u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_format, "json");
}

TEST(ServerConfig, EnvOverridesFile) {
  yaml_file f("server: {host: 0.0.0.0, port: 8000}\nlog: {level: info}\n");
  const env_map env = {
      {"OPAL_SERVER_HOST", "10.1.2.3"},
      {"OPAL_SERVER_BIND_PORT", "9000"},
      {"OPAL_AUTH_ENABLED", "FALSE"},
      {"OPAL_AUTH_MASTER_TOKEN", "master"},
      {"OPAL_AUTH_PRIVATE_KEY", "key-text"},
      {"OPAL_AUTH_PRIVATE_KEY_FORMAT", "der"},
      {"OPAL_AUTH_PRIVATE_KEY_PASSPHRASE", "pp"},
      {"OPAL_AUTH_PUBLIC_KEY", "pub"},
      {"OPAL_AUTH_PUBLIC_KEY_FORMAT", "pem"},
      {"OPAL_AUTH_JWT_AUDIENCE", "a"},
      {"OPAL_AUTH_JWT_ISSUER", "i"},
      {"OPAL_DATA_CONFIG_ROUTE", "/data/cfg"},
      {"OPAL_LOG_LEVEL", "WARNING"},
      {"OPAL_LOG_SERIALIZE", "1"},
      {"SOME_OTHER_VAR", "ignored"},
      {"OPAL_POLICY_REPO_URL", "ignored too"},
  };
  const auto c = load_server_config(f.path(), env);
  EXPECT_EQ(c.host, "10.1.2.3");
  EXPECT_EQ(c.port, 9000);
  EXPECT_FALSE(c.auth_enabled);
  EXPECT_EQ(c.master_token.reveal(), "master");
  EXPECT_EQ(c.private_key.reveal(), "key-text");
  EXPECT_EQ(c.private_key_format, auth::key_format::der);
  EXPECT_EQ(c.private_key_passphrase.reveal(), "pp");
  EXPECT_EQ(c.public_key, "pub");
  EXPECT_EQ(c.public_key_format, auth::key_format::pem);
  EXPECT_EQ(c.jwt_audience, "a");
  EXPECT_EQ(c.jwt_issuer, "i");
  EXPECT_EQ(c.data_config_route, "/data/cfg");
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.log_format, "json");
}

TEST(ServerConfig, KubernetesServicePortVariableIsIgnored) {
  const auto c = load_server_config("", {{"OPAL_SERVER_PORT", "tcp://10.0.0.1:7002"}});
  EXPECT_EQ(c.port, 7002);
  const auto c2 = load_server_config("", {{"OPAL_SERVER_PORT", "tcp://10.0.0.1:9999"}});
  EXPECT_EQ(c2.port, 7002);
}

TEST(ServerConfig, PlainServerPortIsTheDeprecatedAlias) {
  EXPECT_EQ(load_server_config("", {{"OPAL_SERVER_PORT", "7100"}}).port, 7100);
  // OPAL_SERVER_BIND_PORT wins when both are set.
  EXPECT_EQ(
      load_server_config("", {{"OPAL_SERVER_PORT", "7100"}, {"OPAL_SERVER_BIND_PORT", "7200"}})
          .port,
      7200);
  EXPECT_THAT(problems_of("", {{"OPAL_SERVER_PORT", "abc"}}),
              ::testing::ElementsAre(HasSubstr("env OPAL_SERVER_PORT: 'abc' is not a port")));
}

TEST(ServerConfig, BadEnvValuesNameTheVariable) {
  const auto p = problems_of("", {{"OPAL_SERVER_BIND_PORT", "abc"},
                                  {"OPAL_AUTH_ENABLED", "yes"},
                                  {"OPAL_AUTH_PRIVATE_KEY_FORMAT", "x509"},
                                  {"OPAL_LOG_LEVEL", "verbose"},
                                  {"OPAL_AUTH_JWT_ALGORITHM", "HS256"}});
  EXPECT_THAT(p, ::testing::UnorderedElementsAre(
                     HasSubstr("env OPAL_SERVER_BIND_PORT: 'abc' is not a port"),
                     HasSubstr("env OPAL_AUTH_ENABLED: 'yes' is not a boolean"),
                     HasSubstr("env OPAL_AUTH_PRIVATE_KEY_FORMAT: 'x509' is not a key format"),
                     HasSubstr("env OPAL_LOG_LEVEL: 'verbose' is not a level"),
                     HasSubstr("env OPAL_AUTH_JWT_ALGORITHM: 'HS256' is not supported")));
  EXPECT_THAT(problems_of("", {{"OPAL_SERVER_BIND_PORT", "70000"}}),
              ::testing::ElementsAre(HasSubstr("is not a port (0..65535)")));
}

TEST(ServerConfig, UnknownKeyNamesItsPathAndTheExpectedKeys) {
  yaml_file f("server:\n  servr: 1\nlimts: {}\n");
  EXPECT_THAT(problems_of(f.path(), {}),
              ::testing::UnorderedElementsAre(
                  "server.servr: unknown key (expected one of: host, port, threads, "
                  "publish_threads, data_dir, public_url, tls)",
                  HasSubstr("limts: unknown key (expected one of: server, auth, data, blobs, limits")));
}

TEST(ServerConfig, ReportsEveryProblemTogether) {
  yaml_file f(R"(
server: {port: 99999, threads: 0, host: [a]}
auth: {enabled: maybe, private_key_format: x}
limits: {max_body_bytes: 0, http_read_timeout_seconds: "30"}
log: {level: loud, format: xml}
data: {config_route: nope}
)");
  try {
    (void)load_server_config(f.path(), {{"OPAL_SERVER_BIND_PORT", "x"}});
    FAIL() << "expected config_error";
  } catch (const config_error& e) {
    std::vector<std::string> where;
    for (const auto& p : e.problems()) {
      where.push_back(p.where);
    }
    EXPECT_THAT(where, ::testing::UnorderedElementsAre(
                           "server.port", "server.threads", "server.host", "auth.enabled",
                           "auth.private_key_format", "limits.max_body_bytes",
                           "limits.http_read_timeout_seconds", "log.level", "log.format",
                           "data.config_route", "env OPAL_SERVER_BIND_PORT"));
    EXPECT_THAT(e.what(), HasSubstr("11 problems"));
    EXPECT_THAT(e.what(), HasSubstr("server.port: expected a port (0..65535), got 99999"));
    EXPECT_THAT(e.what(), HasSubstr("limits.http_read_timeout_seconds: expected a timeout, got a "
                                    "string"));
  }
}

TEST(ServerConfig, YamlSyntaxErrorGivesLineAndColumn) {
  yaml_file f("server:\n  port: [1, 2\n");
  auto p = problems_of(f.path(), {});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], HasSubstr(f.path() + ": line "));
}

TEST(ServerConfig, MissingFileIsAProblem) {
  EXPECT_THAT(problems_of("/nonexistent/pdl.yaml", {}),
              ::testing::ElementsAre("/nonexistent/pdl.yaml: cannot read the file"));
}

TEST(ServerConfig, SecretsNeverAppearInErrors) {
  yaml_file f("auth: {master_token: [s3cr3t-value]}\n");
  try {
    (void)load_server_config(f.path(), {});
    FAIL();
  } catch (const config_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("auth.master_token: expected a string, got a list"));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("s3cr3t")));
  }
}

TEST(ServerConfig, DataConfigSourcesFromEnvWithEntries) {
  const auto c = load_server_config(
      "", {{"OPAL_DATA_CONFIG_SOURCES",
            R"({"config":{"entries":[{"url":"http://src:8090/users","topics":["users"],)"
            R"("dst_path":"/users","periodic_update_interval":30}]}})"}});
  ASSERT_EQ(c.data_config_entries.size(), 1u);
  EXPECT_EQ(c.data_config_entries[0].url, "http://src:8090/users");
  EXPECT_EQ(c.data_config_entries[0].periodic_update_interval, 30.0);
  EXPECT_FALSE(c.external_source_url);
}

TEST(ServerConfig, DataConfigSourcesFromEnvWithExternalUrl) {
  const auto c = load_server_config(
      "", {{"OPAL_DATA_CONFIG_SOURCES", R"({"external_source_url":"https://cfg.example/x"})"}});
  EXPECT_TRUE(c.data_config_entries.empty());
  EXPECT_EQ(c.external_source_url, "https://cfg.example/x");
}

TEST(ServerConfig, DataConfigSourcesEnvOverridesYaml) {
  yaml_file f("data:\n  config_sources:\n    external_source_url: https://a.example\n");
  const auto c = load_server_config(
      f.path(), {{"OPAL_DATA_CONFIG_SOURCES", R"({"config":{"entries":[]}})"}});
  EXPECT_FALSE(c.external_source_url);
  EXPECT_EQ(load_server_config(f.path(), {}).external_source_url, "https://a.example");
}

TEST(ServerConfig, DataConfigSourcesErrors) {
  auto one = [](const std::string& value) {
    auto p = problems_of("", {{"OPAL_DATA_CONFIG_SOURCES", value}});
    EXPECT_EQ(p.size(), 1u) << value;
    return p.empty() ? std::string() : p[0];
  };
  EXPECT_THAT(one(R"({"config": {"entries": [}})"),
              HasSubstr("env OPAL_DATA_CONFIG_SOURCES: invalid JSON: "));
  EXPECT_THAT(one(R"({"config":{"entries":[]},"external_source_url":"https://x"})"),
              HasSubstr("exactly one of"));
  EXPECT_THAT(one("{}"), HasSubstr("exactly one of"));
  EXPECT_THAT(one(R"({"external_source_url":"ftp://x"})"),
              HasSubstr("external_source_url: expected an http(s) URL"));
  EXPECT_THAT(one(R"({"config":{"entires":[]}})"), HasSubstr("config.entires: unknown key"));
  EXPECT_THAT(one(R"({"config":{"entries":[{"url":"http://x","save_method":"POST"}]}})"),
              HasSubstr("env OPAL_DATA_CONFIG_SOURCES: config.entries[0].save_method"));
  EXPECT_THAT(one("[1]"), HasSubstr("expected an object"));
}

TEST(ServerConfig, BadJsonErrorDoesNotEchoTheInput) {
  auto p = problems_of("", {{"OPAL_DATA_CONFIG_SOURCES",
                             R"({"config":{"entries":[{"config":{"headers":{"a":"tok3n")"}});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], ::testing::Not(HasSubstr("tok3n")));
}

TEST(ServerConfig, YamlDataConfigSourcesErrorNamesThePath) {
  yaml_file f(R"(
data:
  config_sources:
    config:
      entries:
        - {url: "http://x", topics: [a], save_method: DELETE}
)");
  EXPECT_THAT(problems_of(f.path(), {}),
              ::testing::ElementsAre(
                  HasSubstr("data.config_sources.config.entries[0].save_method: ")));
}

TEST(ServerConfig, ANonStringKeyInConfigSourcesIsAProblemNotACrash) {
  // Found by fuzz_config: a list used as a mapping key made yaml-cpp throw past the loader.
  yaml_file f("data:\n  config_sources:\n    {[a]: 1}\n");
  EXPECT_THAT(problems_of(f.path(), {}),
              ::testing::ElementsAre(HasSubstr("data.config_sources: a mapping key must be")));
}

TEST(ServerConfig, EmptyFileAndEmptySectionsAreDefaults) {
  yaml_file f("# nothing yet\nauth:\nlimits:\n");
  EXPECT_EQ(load_server_config(f.path(), {}).port, 7002);
}

TEST(ServerConfig, DuplicateKeyIsRefused) {
  yaml_file f("server:\n  port: 1\n  port: 2\n");
  EXPECT_THAT(problems_of(f.path(), {}), ::testing::Contains("server.port: duplicate key"));
}

}  // namespace
}  // namespace pdl::config

namespace pdl::config {
namespace {

TEST(ServerConfig, DurableLogDefaultsToMemoryWithFsyncAlways) {
  const auto c = load_server_config("", {});
  EXPECT_TRUE(c.data_dir.empty());
  EXPECT_EQ(c.log_fsync, fsync_policy::always);
  EXPECT_EQ(c.log_fsync_interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.log_segment_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(c.log_retention_bytes, std::size_t{1} << 30);
  EXPECT_EQ(c.log_retention_age, std::chrono::seconds(7 * 24 * 3600));
  EXPECT_EQ(c.tracked_updates, 10000u);
}

TEST(ServerConfig, PublishPoolAndPendingPublishBoundHaveDefaultsAndAreValidated) {
  auto c = load_server_config("", {});
  EXPECT_EQ(c.publish_threads, 4);
  EXPECT_EQ(c.max_pending_publishes, 64u);
  test::yaml_file f("server: {publish_threads: 8}\nlimits: {max_pending_publishes: 3}\n");
  c = load_server_config(f.path(), {});
  EXPECT_EQ(c.publish_threads, 8);
  EXPECT_EQ(c.max_pending_publishes, 3u);
  test::yaml_file bad("server: {publish_threads: 0}\nlimits: {max_pending_publishes: -1}\n");
  try {
    load_server_config(bad.path(), {});
    FAIL() << "expected a config_error";
  } catch (const config_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("server.publish_threads"));
    EXPECT_THAT(e.what(), HasSubstr("limits.max_pending_publishes"));
  }
}

TEST(ServerConfig, ReadsTheDurableLogSettingsAndTheirEnvOverrides) {
  test::yaml_file f(R"(
server: {data_dir: /var/lib/pdl}
update_log:
  fsync: interval
  fsync_interval_ms: 250
  segment_bytes: 1048576
  retention_bytes: 10485760
  retention_seconds: 3600
limits: {tracked_updates: 50}
)");
  auto c = load_server_config(f.path(), {});
  EXPECT_EQ(c.data_dir, "/var/lib/pdl");
  EXPECT_EQ(c.log_fsync, fsync_policy::interval);
  EXPECT_EQ(c.log_fsync_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(c.log_segment_bytes, 1048576u);
  EXPECT_EQ(c.log_retention_bytes, 10485760u);
  EXPECT_EQ(c.log_retention_age, std::chrono::seconds(3600));
  EXPECT_EQ(c.tracked_updates, 50u);
  c = load_server_config(f.path(),
                         {{"OPAL_SERVER_DATA_DIR", "/data"}, {"OPAL_SERVER_LOG_FSYNC", "never"}});
  EXPECT_EQ(c.data_dir, "/data");
  EXPECT_EQ(c.log_fsync, fsync_policy::never);
  EXPECT_EQ(to_string(fsync_policy::interval), "interval");
}

TEST(ServerConfig, BadDurableLogSettingsNameTheirPath) {
  test::yaml_file f(R"(
update_log: {fsync: sometimes, segment_bytes: 10, retention_seconds: 0, colour: red}
)");
  std::vector<std::string> problems;
  try {
    (void)load_server_config(f.path(), {{"OPAL_SERVER_LOG_FSYNC", "maybe"}});
  } catch (const config_error& e) {
    for (const auto& p : e.problems()) {
      problems.push_back(p.where + ": " + p.message);
    }
  }
  auto has = [&](const std::string& text) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("update_log.fsync: 'sometimes' is not an fsync policy")) << problems.size();
  EXPECT_TRUE(has("update_log.segment_bytes"));
  EXPECT_TRUE(has("update_log.retention_seconds"));
  EXPECT_TRUE(has("update_log.colour"));
  EXPECT_TRUE(has("OPAL_SERVER_LOG_FSYNC"));
}

TEST(ServerConfig, BroadcastToRedisFromYamlAndOpalVariables) {
  auto c = load_server_config("", {});
  EXPECT_TRUE(c.broadcast_uri.empty());  // one server, its own log
  EXPECT_EQ(c.broadcast_key_prefix, "pdl");
  test::yaml_file f(R"(
broadcast: {uri: "redis://redis:6379/2", key_prefix: prod, retained_updates: 5000, timeout_ms: 750}
)");
  c = load_server_config(f.path(), {});
  EXPECT_EQ(c.broadcast_uri.reveal(), "redis://redis:6379/2");
  EXPECT_EQ(c.broadcast_key_prefix, "prod");
  EXPECT_EQ(c.broadcast_retained_updates, 5000u);
  EXPECT_EQ(c.broadcast_timeout, std::chrono::milliseconds(750));
  c = load_server_config(f.path(), {{"OPAL_BROADCAST_URI", "redis://:pw@other:7000"},
                                    {"OPAL_BROADCAST_CHANNEL_NAME", "EventNotifier"}});
  EXPECT_EQ(c.broadcast_uri.reveal(), "redis://:pw@other:7000");
  EXPECT_EQ(c.broadcast_key_prefix, "EventNotifier");
}

TEST(ServerConfig, BadBroadcastSettingsNameTheirPathAndHideThePassword) {
  test::yaml_file f(R"(
broadcast: {uri: "kafka://k:9092", key_prefix: "has space", retained_updates: 5, colour: red}
)");
  auto problems = problems_of(f.path(), {});
  auto has = [&](const std::string& text) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("broadcast.uri: expected redis://")) << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("broadcast.key_prefix: must be 1 to 64 characters"));
  EXPECT_TRUE(has("broadcast.retained_updates"));
  EXPECT_TRUE(has("broadcast.colour"));
  problems = problems_of("", {{"OPAL_BROADCAST_URI", "redis://user:hunter2@h:notaport"}});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0],
              HasSubstr("env OPAL_BROADCAST_URI: the port is not a number from 1 to 65535"));
  EXPECT_THAT(problems[0], ::testing::Not(HasSubstr("hunter2")));
  problems = problems_of("", {{"OPAL_BROADCAST_URI", "redis://h"}, {"OPAL_SERVER_DATA_DIR", "/d"}});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("the update log lives in Redis"));
}

TEST(ServerConfig, SentinelUriAndMinReplicas) {
  auto c = load_server_config("", {});
  EXPECT_EQ(c.broadcast_min_replicas, 0);  // today's behaviour: no WAIT
  test::yaml_file f(R"(
broadcast:
  uri: "redis-sentinel://s0:26379,s1:26379,s2:26379#pdl-primary"
  min_replicas: 1
  min_replicas_timeout_ms: 500
)");
  c = load_server_config(f.path(), {});
  EXPECT_EQ(c.broadcast_min_replicas, 1);
  EXPECT_EQ(c.broadcast_min_replicas_timeout, std::chrono::milliseconds(500));
  c = load_server_config(f.path(), {{"OPAL_BROADCAST_MIN_REPLICAS", "2"},
                                    {"OPAL_BROADCAST_MIN_REPLICAS_TIMEOUT_MS", "2500"}});
  EXPECT_EQ(c.broadcast_min_replicas, 2);
  EXPECT_EQ(c.broadcast_min_replicas_timeout, std::chrono::milliseconds(2500));
}

TEST(ServerConfig, BadSentinelAndMinReplicasSettingsNameTheirPath) {
  auto problems = problems_of("", {{"OPAL_BROADCAST_URI", "redis-sentinel://:hunter2@s0,s1"},
                                   {"OPAL_BROADCAST_MIN_REPLICAS", "17"},
                                   {"OPAL_BROADCAST_MIN_REPLICAS_TIMEOUT_MS", "5"}});
  auto has = [&](const std::string& text) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("env OPAL_BROADCAST_URI: the primary's name is missing"))
      << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("OPAL_BROADCAST_MIN_REPLICAS"));
  EXPECT_TRUE(has("OPAL_BROADCAST_MIN_REPLICAS_TIMEOUT_MS"));
  EXPECT_FALSE(has("hunter2"));
  test::yaml_file f(R"(
broadcast: {min_replicas: -1}
)");
  problems = problems_of(f.path(), {});
  EXPECT_TRUE(has("broadcast.min_replicas")) << ::testing::PrintToString(problems);
  problems = problems_of("", {{"OPAL_BROADCAST_MIN_REPLICAS", "1"}});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("it needs broadcast.uri"));
}

}  // namespace
}  // namespace pdl::config

namespace pdl::config {
namespace {

TEST(ServerConfig, OpalVariablesItDoesNotReadAreNamedWithTheReason) {
  const env_map env{{"OPAL_SERVER_HOST", "0.0.0.0"},           // read
                    {"OPAL_LOG_LEVEL", "debug"},               // read
                    {"OPAL_POLICY_REPO_URL", "https://github.com/org/policy.git"},
                    {"OPAL_POLICY_STORE_URL", "http://opa:8181"},  // the agent's
                    {"OPAL_BROADCAST_REPLAY_BUFFER_SIZE", "100"},
                    {"OPAL_CLIENT_LOAD_LIMIT_NOTATION", "10/second"},
                    {"OPAL_LOG_COLORIZE", "false"},
                    {"OPAL_SERVR_HOST", "typo"},
                    {"OPAL_STATISTICS_ENABLED", ""},              // empty: unset
                    // Kubernetes' service links for Services named opal-server / opal-client:
                    {"OPAL_SERVER_SERVICE_HOST", "10.0.0.7"},
                    {"OPAL_SERVER_SERVICE_PORT_HTTP", "7002"},
                    {"OPAL_SERVER_PORT_7002_TCP_ADDR", "10.0.0.7"},
                    {"OPAL_CLIENT_PORT", "tcp://10.0.0.8:7000"},
                    {"PATH", "/usr/bin"}};
  const auto c = load_server_config("", env);
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_THAT(
      c.ignored_env,
      ::testing::ElementsAre(
          HasSubstr("OPAL_BROADCAST_REPLAY_BUFFER_SIZE: the Redis backbone reconnects"),
          HasSubstr("OPAL_CLIENT_LOAD_LIMIT_NOTATION: no /loadlimit"),
          HasSubstr("OPAL_LOG_COLORIZE: loguru's settings have no equivalent"),
          HasSubstr("OPAL_POLICY_REPO_URL: policy sync from a git repository or a bundle "
                    "server is not implemented: bundles are served from policy.dir"),
          HasSubstr("OPAL_POLICY_STORE_URL: an agent (opal-client) setting"),
          HasSubstr("OPAL_SERVR_HOST: not an opal-server setting (a typo")));
  EXPECT_TRUE(load_server_config("", {}).ignored_env.empty());
}

TEST(ServerConfig, PublishingCannotBeSwitchedOff) {
  EXPECT_THAT(problems_of("", {{"OPAL_PUBLISHER_ENABLED", "false"}}),
              ::testing::Contains(HasSubstr("OPAL_PUBLISHER_ENABLED: false is not supported")));
  EXPECT_TRUE(load_server_config("", {{"OPAL_PUBLISHER_ENABLED", "true"}}).ignored_env.empty());
}

}  // namespace
}  // namespace pdl::config

namespace pdl::config {
namespace {

TEST(ServerConfig, PolicySectionAndOpalPolicyDir) {
  const std::string dir = ::testing::TempDir();
  test::yaml_file f("policy: {dir: " + dir + ", rescan_interval_ms: 500, max_file_bytes: 100, "
                    "max_total_bytes: 1000, max_files: 7}\n");
  auto c = load_server_config(f.path(), {});
  EXPECT_EQ(c.policy_dir, dir);
  EXPECT_EQ(c.policy_rescan_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(c.policy_max_file_bytes, 100U);
  EXPECT_EQ(c.policy_max_total_bytes, 1000U);
  EXPECT_EQ(c.policy_max_files, 7U);
  EXPECT_TRUE(c.ignored_env.empty());
  EXPECT_EQ(load_server_config("", {{"OPAL_POLICY_DIR", dir}}).policy_dir, dir);
}

TEST(ServerConfig, APolicyDirThatIsNotADirectoryIsNamed) {
  auto problems_of = [](const std::string& yaml, const env_map& env) {
    std::vector<std::string> out;
    test::yaml_file f(yaml);
    try {
      (void)load_server_config(f.path(), env);
    } catch (const config_error& e) {
      for (const auto& p : e.problems()) {
        out.push_back(p.where + ": " + p.message);
      }
    }
    return out;
  };
  EXPECT_THAT(problems_of("policy: {dir: /no/such/dir}\n", {}),
              ::testing::ElementsAre(HasSubstr("policy.dir: '/no/such/dir' is not a directory")));
  EXPECT_THAT(problems_of("", {{"OPAL_POLICY_DIR", "/etc/hostname"}}),
              ::testing::ElementsAre(
                  HasSubstr("env OPAL_POLICY_DIR: '/etc/hostname' is not a directory")));
  EXPECT_THAT(problems_of("policy: {rescan_interval_ms: 1, folders: 2}\n", {}),
              ::testing::ElementsAre(HasSubstr("policy.rescan_interval_ms"),
                                     HasSubstr("policy.folders")));
}

TEST(ServerConfig, FetchOnceSettings) {
  const auto d = load_server_config("", {});
  EXPECT_EQ(d.fetched_by_default, model::fetched_by::agent);  // OPAL's behaviour
  EXPECT_TRUE(d.public_url.empty());
  EXPECT_TRUE(d.blobs_dir.empty());
  EXPECT_EQ(d.blobs_max_bytes, 1ull << 30);

  yaml_file f(
      "server: {public_url: 'https://pdl.example/base/'}\n"
      "data: {fetched_by_default: server}\n"
      "blobs: {dir: /var/lib/pdl/blobs, max_bytes: 1048576, max_blob_bytes: 4096,\n"
      "        fetch_timeout_ms: 2500, url_ttl_seconds: 600}\n");
  const auto c = load_server_config(f.path(), {});
  EXPECT_EQ(c.public_url, "https://pdl.example/base");  // the trailing slash dropped
  EXPECT_EQ(c.fetched_by_default, model::fetched_by::server);
  EXPECT_EQ(c.blobs_dir, "/var/lib/pdl/blobs");
  EXPECT_EQ(c.blobs_max_bytes, 1048576u);
  EXPECT_EQ(c.blobs_max_blob_bytes, 4096u);
  EXPECT_EQ(c.blobs_fetch_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c.blobs_url_ttl, std::chrono::seconds(600));

  const auto e = load_server_config("", {{"OPAL_DATA_FETCHED_BY_DEFAULT", "server"},
                                         {"OPAL_SERVER_PUBLIC_URL", "http://10.0.0.7:7002"},
                                         {"OPAL_BLOBS_DIR", "/srv/blobs"}});
  EXPECT_EQ(e.fetched_by_default, model::fetched_by::server);
  EXPECT_EQ(e.public_url, "http://10.0.0.7:7002");
  EXPECT_EQ(e.blobs_dir, "/srv/blobs");
  EXPECT_TRUE(e.ignored_env.empty());
}

TEST(ServerConfig, FetchOnceSettingsAreChecked) {
  yaml_file f(
      "server: {public_url: 'ftp://x'}\n"
      "data: {fetched_by_default: everyone}\n"
      "blobs: {max_bytes: 8192, max_blob_bytes: 16384, fetch_timeout_ms: 5, colour: red}\n");
  const auto p = problems_of(f.path(), {});
  auto has = [&](const std::string& text) {
    return std::any_of(p.begin(), p.end(),
                       [&](const std::string& s) { return s.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("server.public_url: must start with http:// or https://")) << p.size();
  EXPECT_TRUE(has("data.fetched_by_default: 'everyone' is not who fetches (agent or server)"));
  EXPECT_TRUE(has("blobs.max_blob_bytes: is larger than blobs.max_bytes"));
  EXPECT_TRUE(has("blobs.fetch_timeout_ms"));
  EXPECT_TRUE(has("blobs.colour"));
  const auto q = problems_of("", {{"OPAL_SERVER_PUBLIC_URL", "https://user:pw@x.example"},
                                  {"OPAL_DATA_FETCHED_BY_DEFAULT", "both"}});
  EXPECT_THAT(q, ::testing::Contains(HasSubstr("env OPAL_SERVER_PUBLIC_URL: must be a plain")));
  EXPECT_THAT(q, ::testing::Contains(HasSubstr("OPAL_DATA_FETCHED_BY_DEFAULT: 'both'")));
}

}  // namespace
}  // namespace pdl::config
