// OPAL server settings this server does not act on are named at start and by check-config, each
// with the reason; none is silently ignored.
#include <string>

#include <gtest/gtest.h>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"

namespace pdl::test {
namespace {

class opal_settings : public process_fixture {};

TEST_F(opal_settings, check_config_and_run_name_every_opal_setting_they_ignore) {
  const std::map<std::string, std::string> env{
      {"OPAL_POLICY_REPO_URL", "https://github.com/example/policy-repo.git"},
      {"OPAL_BROADCAST_KEEPALIVE_INTERVAL", "60"},
      {"OPAL_AUTH_MASTER_TOKEN", "settings-master-0123456789abcdef"}};
  auto check = run_command(binary_path("opal-server"), {"check-config"}, env);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("warning: ignored: OPAL_POLICY_REPO_URL: policy sync"),
            std::string::npos)
      << check.output;
  EXPECT_NE(check.output.find("warning: ignored: OPAL_BROADCAST_KEEPALIVE_INTERVAL: the Redis "
                              "backbone"),
            std::string::npos)
      << check.output;
  EXPECT_EQ(check.output.find("OPAL_AUTH_MASTER_TOKEN"), std::string::npos) << check.output;

  auto run_env = env;
  run_env["OPAL_SERVER_HOST"] = "127.0.0.1";
  run_env["OPAL_SERVER_BIND_PORT"] = "0";
  const int server = start_with_port("server", "opal-server", {"run"}, run_env);
  ASSERT_TRUE(poll_until([&] { return http_call("GET", url(server) + "/healthcheck").status == 200; }));
  const std::string log = procs["server"].log();
  EXPECT_NE(log.find("ignored: OPAL_POLICY_REPO_URL: policy sync"), std::string::npos) << log;

  auto refused = run_command(binary_path("opal-server"), {"check-config"},
                             {{"OPAL_PUBLISHER_ENABLED", "false"}});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("OPAL_PUBLISHER_ENABLED: false is not supported"),
            std::string::npos)
      << refused.output;
}

}  // namespace
}  // namespace pdl::test
