// No secret ever reaches a log line: a server and an agent at TRACE level, in JSON lines, go
// through successes and failures that all carry secrets (tokens right and wrong, a master token
// right and wrong, src-config header values, the policy store token), and every line they wrote
// is then searched for every secret. Each line must also be one valid JSON object.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;

class secrets_in_logs : public process_fixture {};

TEST_F(secrets_in_logs, no_token_header_value_or_store_token_in_any_line_at_trace_level) {
  const std::string master = "master-SECRET-7f3a9c1e5b2d4086aa11";
  const std::string header_value = "Bearer source-SECRET-header-0d9e8f7a6b5c";
  const std::string store_token = "store-SECRET-token-4c3b2a190817";
  const std::string wrong_master = "wrong-master-SECRET-55aa66bb77cc";
  const std::string wrong_jwt =
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.wrong-SECRET-signature-AbCdEf0123";

  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"}, {});
  const int source = start_with_port(
      "source", "fake-data-source",
      {"--addr", "127.0.0.1:0", "--require-header", "authorization: " + header_value, "--route",
       R"(/users={"alice":{"role":"admin"}})"},
      {});
  const std::map<std::string, std::string> trace_json{{"OPAL_LOG_LEVEL", "TRACE"},
                                                      {"OPAL_LOG_SERIALIZE", "true"}};
  auto server_env = trace_json;
  server_env.insert({{"OPAL_AUTH_MASTER_TOKEN", master},
                     {"OPAL_SERVER_HOST", "127.0.0.1"},
                     {"OPAL_SERVER_BIND_PORT", "0"}});
  const int server = start_with_port("server", "opal-server", {"run"}, server_env);

  auto mint = [&](const std::string& type) { return mint_token(server, master, type); };
  const std::string client_token = mint("client");
  const std::string ds_token = mint("datasource");
  ASSERT_FALSE(client_token.empty());

  auto agent_env = trace_json;
  agent_env.insert({{"OPAL_SERVER_URL", url(server)},
                    {"OPAL_CLIENT_TOKEN", client_token},
                    {"OPAL_DATA_TOPICS", "users"},
                    {"OPAL_POLICY_STORE_URL", url(opa)},
                    {"OPAL_POLICY_STORE_AUTH_TYPE", "token"},
                    {"OPAL_POLICY_STORE_AUTH_TOKEN", store_token},
                    {"OPAL_CLIENT_API_SERVER_PORT", "0"},
                    {"OPAL_SHOULD_REPORT_ON_DATA_UPDATES", "true"}});
  const int agent = start_with_port("agent", "opal-client", {"run"}, agent_env);
  ASSERT_TRUE(poll_until([&] { return http_call("GET", url(agent) + "/ready").status == 200; }));

  const json src_config = {{"headers", {{"Authorization", header_value}}}};
  auto update = [&](const std::string& path) {
    return json{{"entries",
                 {{{"url", url(source) + path},
                   {"config", src_config},
                   {"topics", {"users"}},
                   {"dst_path", "/users"}}}}}
        .dump();
  };
  // 1. Success through the whole path (the source checks the header).
  ASSERT_EQ(http_call("POST", url(server) + "/data/config", ds_token, update("/users")).status, 200);
  ASSERT_TRUE(poll_until([&] {
    return http_call("GET", url(opa) + "/v1/data/users/alice/role").body.find("admin") !=
           std::string::npos;
  }));
  // 2. A fetch that fails (no such route: 404 from the source), with the header.
  ASSERT_EQ(http_call("POST", url(server) + "/data/config", ds_token, update("/missing")).status, 200);
  // 3. Refusals that carry secrets: wrong JWT, client JWT publishing, wrong master token,
  //    an invalid update with a header in its config.
  EXPECT_EQ(http_call("POST", url(server) + "/data/config", wrong_jwt, update("/users")).status, 401);
  EXPECT_EQ(http_call("POST", url(server) + "/data/config", client_token, update("/users")).status, 403);
  EXPECT_EQ(http_call("POST", url(server) + "/token", wrong_master, R"({"type":"client"})").status, 401);
  json bad = json::parse(update("/users"));
  bad["entries"][0]["save_method"] = "DELETE";
  EXPECT_EQ(http_call("POST", url(server) + "/data/config", ds_token, bad.dump()).status, 422);
  // 4. The CLI, with the header in --src-config, and a refused token.
  auto cli = run_command(binary_path("opal-client"),
                         {"publish-data-update", ds_token, "--uri=" + url(server), "--src-url",
                          url(source) + "/users", "-t", "users", "--src-config", src_config.dump(),
                          "--dst-path", "/users2"});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  auto refused = run_command(binary_path("opal-client"),
                             {"publish-data-update", wrong_jwt, "--uri=" + url(server),
                              "--src-url", url(source) + "/users", "--src-config",
                              src_config.dump()});
  EXPECT_NE(refused.exit_code, 0);
  ASSERT_TRUE(poll_until([&] {
    return http_call("GET", url(opa) + "/v1/data/users2/alice/role").body.find("admin") !=
           std::string::npos;
  }));
  // The failed fetch was reported (so its error path ran before we read the logs).
  ASSERT_TRUE(poll_until([&] { return procs["agent"].log().find("/missing") != std::string::npos; }))
      << procs["agent"].log();

  const std::vector<std::pair<std::string, std::string>> secrets{
      {"master token", master},        {"wrong master token", wrong_master},
      {"client token", client_token},  {"datasource token", ds_token},
      {"a wrong JWT", wrong_jwt},      {"the src-config header value", "source-SECRET-header"},
      {"the store token", store_token}};
  std::size_t lines = 0;
  for (const std::string name : {"server", "agent"}) {  // (the fakes log what we send them)
    const std::string log = procs[name].log();
    for (const auto& [what, value] : secrets) {
      EXPECT_EQ(log.find(value), std::string::npos) << what << " in " << procs[name].log_path();
    }
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      ++lines;
      auto j = json::parse(line, nullptr, false);
      EXPECT_TRUE(j.is_object() && j.contains("msg") && j.contains("logger"))
          << procs[name].log_path() << ": " << line;
    }
  }
  EXPECT_GT(lines, 20u);  // TRACE really logged something
  for (const auto* out : {&cli.output, &refused.output}) {
    for (const auto& [what, value] : secrets) {
      if (what != "datasource token" && what != "a wrong JWT") {
        EXPECT_EQ(out->find(value), std::string::npos) << what << " in CLI output";
      }
    }
  }
}

}  // namespace
}  // namespace pdl::test
