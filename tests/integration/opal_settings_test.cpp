// OPAL server settings this server does not act on are named at start and by check-config, each
// with the reason; none is silently ignored.
#include <filesystem>
#include <fstream>
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

TEST_F(opal_settings, the_agent_names_every_opal_setting_it_ignores_too) {
  auto check = run_command(binary_path("opal-client"), {"check-config"},
                           {{"OPAL_INLINE_OPA_ENABLED", "true"},
                            {"OPAL_SECRET_BILLING_TOKEN", "not-a-warning"}});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("warning: ignored: OPAL_INLINE_OPA_ENABLED: no inline OPA"),
            std::string::npos)
      << check.output;
  EXPECT_EQ(check.output.find("OPAL_SECRET_BILLING_TOKEN"), std::string::npos) << check.output;
}

TEST_F(opal_settings, check_config_reads_the_policy_directory_as_run_would) {
  const std::string dir = ::testing::TempDir() + "/pdl-check-policy";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/authz");
  std::ofstream(dir + "/authz/authz.rego") << "package authz\n";
  auto good = run_command(binary_path("opal-server"), {"check-config", "--policy-dir", dir}, {});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_NE(good.output.find("policy.dir: 1 modules, bundle "), std::string::npos) << good.output;
  std::ofstream(dir + "/authz/data.json") << "{\"users\": [";
  auto bad = run_command(binary_path("opal-server"), {"check-config"}, {{"OPAL_POLICY_DIR", dir}});
  EXPECT_EQ(bad.exit_code, 0) << "run would start and keep serving the last good bundle";
  EXPECT_NE(bad.output.find("warning: policy.dir: authz/data.json: not JSON: "),
            std::string::npos)
      << bad.output;
  auto missing = run_command(binary_path("opal-server"), {"check-config"},
                             {{"OPAL_POLICY_DIR", dir + "/nope"}});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("env OPAL_POLICY_DIR: '" + dir + "/nope' is not a directory"),
            std::string::npos)
      << missing.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pdl::test
