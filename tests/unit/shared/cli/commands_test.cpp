#include "shared/cli/commands.hpp"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/unit/shared/cli/run_cli.hpp"
#include "tests/unit/shared/http/tiny_server.hpp"

namespace pdl::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pdl::test::tiny_server;

/** Parses @p args as a binary would and runs the chosen verb, capturing stdout/stderr. */
pdl::test::cli_outcome run(std::vector<std::string> args) {
  return pdl::test::run_cli(std::move(args));
}

std::string body_of(const std::string& request) {
  return request.substr(request.find("\r\n\r\n") + 4);
}

/** Sets an environment variable for one test. */
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_env() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(Commands, NoVerbSelected) { EXPECT_EQ(run({}).code, -1); }

TEST(Commands, PublishDataUpdateLikeTheWalkthrough) {
  tiny_server server(tiny_server::replying(200, R"({"status":"ok","id":"abc","seq":7})"));
  auto r = run({"publish-data-update", "ds-token-value", "--server-url", server.url(""),
                "--src-url", "http://127.0.0.1:8090/users", "-t", "users", "-t", "billing",
                "--src-config", R"({"headers":{"authorization":"bearer secret-token"}})"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Event Published Successfully"));
  EXPECT_THAT(r.out, HasSubstr("abc"));
  EXPECT_THAT(r.out, HasSubstr("7"));
  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("POST /data/config HTTP/1.1"));
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer ds-token-value"));
  auto sent = nlohmann::json::parse(body_of(req));
  EXPECT_EQ(sent["entries"][0]["topics"], nlohmann::json({"users", "billing"}));
  EXPECT_EQ(sent["entries"][0]["config"]["headers"]["authorization"], "bearer secret-token");
  EXPECT_EQ(sent["entries"][0]["save_method"], "PUT");
  EXPECT_EQ(sent["reason"], "");
}

TEST(Commands, PublishUsesUriAliasRouteAndEnvToken) {
  scoped_env token("OPAL_CLIENT_TOKEN", "from-env-token");
  tiny_server server(tiny_server::replying(200, R"({"status":"ok"})"));
  auto r = run({"publish-data-update", "--uri", server.url(""), "--server-route", "/other",
                "--entries", R"([{"url":"","data":{"a":1},"topics":["t"],"dst_path":"/x"}])",
                "--reason", "because"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("POST /other HTTP/1.1"));
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer from-env-token"));
  EXPECT_EQ(nlohmann::json::parse(body_of(req))["reason"], "because");
}

TEST(Commands, TopicTakesOneValueSoTheTokenStaysPositional) {
  tiny_server server(tiny_server::replying(200, R"({"status":"ok"})"));
  auto r = run({"publish-data-update", "--server-url", server.url(""), "--src-url",
                "http://src/x", "-t", "a", "--topic", "b", "positional-token"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer positional-token"));
  EXPECT_EQ(nlohmann::json::parse(body_of(req))["entries"][0]["topics"],
            nlohmann::json({"a", "b"}));
}

TEST(Commands, PublishRefusedPrintsStatusAndReason) {
  tiny_server server(tiny_server::replying(
      401, R"({"detail":{"error":"Incorrect 'peer_type' claim","token":"client-jwt"}})"));
  auto r = run({"publish-data-update", "client-jwt", "--server-url", server.url(""),
                "--src-url", "http://src/x", "-t", "a"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("401"));
  EXPECT_THAT(r.err, HasSubstr("Incorrect 'peer_type' claim"));
  EXPECT_THAT(r.err, Not(HasSubstr("client-jwt")));
  EXPECT_THAT(r.out, Not(HasSubstr("Successfully")));
}

TEST(Commands, PublishRejectsBadInputLocally) {
  tiny_server server(tiny_server::replying(200, R"({"status":"ok"})"));
  auto r = run({"publish-data-update", "t", "--server-url", server.url(""), "--src-url",
                "http://src/x", "--src-config", "{oops"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--src-config: invalid JSON"));
  r = run({"publish-data-update", "t", "--server-url", server.url("")});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("nothing to publish"));
  EXPECT_TRUE(server.requests().empty());
}

TEST(Commands, ObtainTokenPrintsJustTheToken) {
  tiny_server server(tiny_server::replying(200, R"({"token":"the.jwt","type":"bearer"})"));
  auto r = run({"obtain-token", "master-value", "--uri", server.url(""), "--type", "datasource",
                "--ttl", "30", "days", "--claims", R"({"permitted_topics":["users"]})"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "the.jwt\n");
  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("POST /token HTTP/1.1"));
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer master-value"));
  auto sent = nlohmann::json::parse(body_of(req));
  EXPECT_EQ(sent["type"], "datasource");
  EXPECT_EQ(sent["ttl"], 30.0 * 86400);
  EXPECT_EQ(sent["claims"]["permitted_topics"][0], "users");
}

TEST(Commands, ObtainTokenWholeAnswerAndDefaults) {
  scoped_env master("OPAL_MASTER_TOKEN", "env-master");
  tiny_server server(tiny_server::replying(200, R"({"token":"the.jwt","type":"bearer"})"));
  auto r = run({"obtain-token", "--server-url", server.url(""), "--no-just-the-token"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["type"], "bearer");
  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer env-master"));
  auto sent = nlohmann::json::parse(body_of(req));
  EXPECT_EQ(sent["type"], "client");
  EXPECT_EQ(sent["ttl"], 365.0 * 86400);
  EXPECT_EQ(sent["claims"], nlohmann::json::object());
}

TEST(Commands, ObtainTokenTtlInSecondsBeforeThePositional) {
  tiny_server server(tiny_server::replying(200, R"({"token":"t"})"));
  auto r = run({"obtain-token", "--server-url", server.url(""), "--ttl", "3600", "mstr"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer mstr"));
  EXPECT_EQ(nlohmann::json::parse(body_of(req))["ttl"], 3600.0);
}

TEST(Commands, ObtainTokenErrors) {
  ::unsetenv("OPAL_MASTER_TOKEN");
  auto r = run({"obtain-token", "--server-url", "http://127.0.0.1:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("master token is required"));
  r = run({"obtain-token", "m", "--type", "admin"});
  EXPECT_GE(r.code, 100);  // CLI11 refuses the value
  r = run({"obtain-token", "m", "--claims", "[]"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--claims: expected a JSON object"));
}

TEST(Commands, ObtainTokenTakesAMasterThatStartsWithADash) {
  // One urlsafe secret in 64 starts with '-'; CLI11 alone reads it as an unknown option.
  tiny_server server(tiny_server::replying(200, R"({"token":"t"})"));
  auto r = run({"obtain-token", "-A3b7aOMdHuoPw7WBuDPD", "--uri=" + server.url(""), "--type",
                "client"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(server.requests().at(0), HasSubstr("Authorization: Bearer -A3b7aOMdHuoPw7WBuDPD"));
  r = run({"obtain-token", "--uri=" + server.url(""), "--", "-Zz9xx"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(server.requests().at(1), HasSubstr("Authorization: Bearer -Zz9xx"));
}

TEST(Commands, AnUnexpectedArgumentIsNeverEchoedBecauseItMayBeASecret) {
  ::unsetenv("OPAL_MASTER_TOKEN");
  auto r = run({"obtain-token", "-SecretMasterValue1", "--uri=http://127.0.0.1:1", "--bogus=x",
                "-AnotherSecretValue"});
  EXPECT_EQ(r.code, static_cast<int>(CLI::ExitCodes::ExtrasError));  // from the verb itself
  EXPECT_THAT(r.err, HasSubstr("--bogus"));
  EXPECT_THAT(r.err, HasSubstr("a value of 19 characters, not shown"));
  EXPECT_THAT(r.err, HasSubstr("goes after '--'"));
  EXPECT_THAT(r.err + r.out, Not(HasSubstr("SecretValue")));
  EXPECT_THAT(r.err + r.out, Not(HasSubstr("SecretMaster")));
  r = run({"publish-data-update", "--client-token", "-PublisherSecret", "--src-url", "http://x"});
  EXPECT_EQ(r.code, 100 + static_cast<int>(CLI::ExitCodes::ExtrasError));
  EXPECT_THAT(r.err, HasSubstr("--client-token"));
  EXPECT_THAT(r.err + r.out, Not(HasSubstr("PublisherSecret")));
}

TEST(Commands, GenerateSecretFormats) {
  auto r = run({"generate-secret", "--size", "16", "--format", "hex"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("[0-9a-f]{32}\n"));
  r = run({"generate-secret"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, ::testing::MatchesRegex("[A-Za-z0-9_-]{43}\n"));
  EXPECT_GE(run({"generate-secret", "--format", "base32"}).code, 100);
}

}  // namespace
}  // namespace pdl::cli
