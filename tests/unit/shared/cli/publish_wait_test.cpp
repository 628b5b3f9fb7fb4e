// publish-data-update --wait, end to end against a fake server (the verb lives in commands.hpp).
#include "shared/cli/commands.hpp"

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/cli/delivery_report.hpp"
#include "tests/unit/shared/cli/run_cli.hpp"
#include "tests/unit/shared/publisher/delivery_server.hpp"

namespace pdl::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pdl::test::delivery_server;
using pdl::test::run_cli;

constexpr const char* publish_ok = R"({"status":"ok","id":"u-1","seq":1})";
const std::string pending_b =
    delivery_server::status_body("u-1", false, R"({"subscribed":["agent-a","agent-b"],
      "applied":["agent-a"],"failed":[],"pending":["agent-b"]})");
const std::string all_applied =
    delivery_server::status_body("u-1", true, R"({"subscribed":["agent-a","agent-b"],
      "applied":["agent-a","agent-b"],"failed":[],"pending":[]})");
const std::string b_failed = delivery_server::status_body("u-1", true, R"(
    {"subscribed":["agent-a","agent-b"],"applied":["agent-a"],
     "failed":[{"agent":"agent-b","errors":["/users: fetch failed: HTTP 401"]}],"pending":[]})");

std::vector<std::string> publish_args(const delivery_server& s, std::vector<std::string> more) {
  std::vector<std::string> args{"publish-data-update", "--server-url", s.url(), "--src-url",
                                "http://127.0.0.1:8090/users", "-t", "users"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_env() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(PublishWait, AllAppliedAtOnce) {
  delivery_server server(publish_ok, {{200, all_applied}});
  auto r = run_cli(publish_args(server, {"ds-token", "--wait"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Event Published Successfully (id u-1, seq 1)\n"));
  EXPECT_THAT(r.out, HasSubstr("Applied by 2 agent(s): agent-a, agent-b\n"));
  EXPECT_EQ(r.err, "");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[1], HasSubstr("GET /data/updates/u-1 HTTP/1.1"));
  EXPECT_THAT(reqs[1], HasSubstr("Authorization: Bearer ds-token"));
}

TEST(PublishWait, AllAppliedAfterAFewPolls) {
  delivery_server server(publish_ok, {{200, pending_b}, {200, pending_b}, {200, all_applied}});
  auto r = run_cli(publish_args(server, {"--wait", "30", "ds-token"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Applied by 2 agent(s): agent-a, agent-b"));
  EXPECT_EQ(server.get_count(), 3);
}

TEST(PublishWait, FailedAgentsAreNamedWithTheirErrors) {
  delivery_server server(publish_ok, {{200, b_failed}});
  auto r = run_cli(publish_args(server, {"ds-token", "--wait", "5"}));
  EXPECT_EQ(r.code, wait_failed);
  EXPECT_THAT(r.out, HasSubstr("Applied by 1 agent(s): agent-a\n"));
  EXPECT_THAT(r.err, HasSubstr("agent-b: failed: /users: fetch failed: HTTP 401\n"));
  EXPECT_THAT(r.err, Not(HasSubstr("ds-token")));
}

TEST(PublishWait, TimeoutNamesThePendingAgents) {
  delivery_server server(publish_ok, {{200, pending_b}});
  auto r = run_cli(publish_args(server, {"ds-token", "--wait=0.4"}));
  EXPECT_EQ(r.code, wait_timed_out) << r.err;
  EXPECT_THAT(r.err, HasSubstr("agent-b: not applied within 400ms\n"));
  EXPECT_THAT(r.err, Not(HasSubstr("agent-a:")));
  EXPECT_GE(server.get_count(), 2);
}

TEST(PublishWait, FailureWinsOverTimeout) {
  delivery_server server(publish_ok, {{200, delivery_server::status_body("u-1", false, R"(
      {"subscribed":["agent-b","agent-c"],"applied":[],
       "failed":[{"agent":"agent-b","errors":["/users: 400 from OPA"]}],
       "pending":["agent-c"]})")}});
  auto r = run_cli(publish_args(server, {"ds-token", "--wait", "0.1"}));
  EXPECT_EQ(r.code, wait_failed);
  EXPECT_THAT(r.err, HasSubstr("agent-b: failed: /users: 400 from OPA\n"));
  EXPECT_THAT(r.err, HasSubstr("agent-c: not applied within 100ms\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("Applied by")));
}

TEST(PublishWait, OpalServerWithoutIdCannotReport) {
  delivery_server server(R"({"status":"ok"})", {{200, all_applied}});
  auto r = run_cli(publish_args(server, {"ds-token", "--wait"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("Event Published Successfully"));
  EXPECT_THAT(r.err, HasSubstr("the server does not report delivery status (OPAL server?)"));
  EXPECT_EQ(server.get_count(), 0);
}

TEST(PublishWait, ServerWithoutTheRouteCannotReport) {
  delivery_server server(publish_ok, {{404, R"({"detail":"Not Found"})"}});
  auto r = run_cli(publish_args(server, {"ds-token", "--wait"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("the server does not report delivery status (OPAL server?)"));
  EXPECT_EQ(server.get_count(), 1);  // a 404 is not retried
}

TEST(PublishWait, OtherErrorsWhileWaitingAreReported) {
  delivery_server server(publish_ok, {{403, R"({"detail":"peer type not allowed"})"}});
  auto r = run_cli(publish_args(server, {"ds-token", "--wait"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--wait: HTTP 403"));
  EXPECT_THAT(r.err, HasSubstr("peer type not allowed"));
  EXPECT_THAT(r.err, Not(HasSubstr("ds-token")));
}

TEST(PublishWait, WithoutTheFlagNothingIsAsked) {
  delivery_server server(publish_ok, {{200, pending_b}});
  auto r = run_cli(publish_args(server, {"ds-token"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server.get_count(), 0);
  EXPECT_THAT(r.out, Not(HasSubstr("Applied by")));
}

TEST(PublishWait, TokenRightAfterABareWaitStaysTheToken) {
  delivery_server server(publish_ok, {{200, all_applied}});
  auto r = run_cli(publish_args(server, {"--wait", "ds-token"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(server.requests().at(0), HasSubstr("Authorization: Bearer ds-token"));
  EXPECT_EQ(server.get_count(), 1);
}

TEST(PublishWait, BadValuesAreRefusedBeforePublishing) {
  scoped_env token("OPAL_CLIENT_TOKEN", "env-token-value");
  delivery_server server(publish_ok, {{200, all_applied}});
  for (const char* bad : {"0", "-1", "abc", "90000", "1e999"}) {
    auto r = run_cli(publish_args(server, {std::string("--wait=") + bad}));
    EXPECT_EQ(r.code, 1) << bad;
    EXPECT_THAT(r.err, HasSubstr("--wait: expected a number of seconds")) << bad;
    EXPECT_THAT(r.err, Not(HasSubstr("env-token-value")));
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST(PublishWait, HelpDocumentsTheExitCodes) {
  auto r = run_cli({"publish-data-update", "--help"});
  EXPECT_THAT(r.out, HasSubstr("--wait"));
  EXPECT_THAT(r.out, HasSubstr("3: some had not applied it in time"));
}

}  // namespace
}  // namespace pdl::cli
