// Source rules (issue 10) with real processes on loopback: the agent refuses to copy its own
// policy store (by address and by name), follows no redirect to the store or to the link-local
// metadata address, fetches nothing outside its allow list, and checks the address a name
// resolves to; the server refuses to publish the metadata address with a 422 naming the rule.
// A refused source is a permanent failure (one attempt) with the reason `source_refused`.
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/prometheus_text.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;
using env = std::map<std::string, std::string>;

std::string fetched(const std::string& url, const std::string& dst) {
  json e = {{"url", url}, {"topics", {"policy_data"}}, {"dst_path", dst}};
  return json{{"entries", {e}}}.dump();
}

class source_rules_it : public process_fixture {
 protected:
  const std::string master = "source-rules-master-0123456789abcdef";

  void start_server(const env& extra = {}) {
    env e = {{"OPAL_AUTH_MASTER_TOKEN", master},
             {"OPAL_SERVER_HOST", "127.0.0.1"},
             {"OPAL_SERVER_BIND_PORT", "0"}};
    e.insert(extra.begin(), extra.end());
    server = start_with_port("server", "opal-server", {"run"}, e);
    client_token = mint("client");
    ds_token = mint("datasource");
  }

  std::string mint(const std::string& type) { return mint_token(server, master, type); }

  /** An agent writing into the stand-in at @p store_port; returns once it is connected. */
  void start_agent(int store_port, const env& extra = {}) {
    env e = {{"OPAL_SERVER_URL", url(server)},
             {"OPAL_CLIENT_TOKEN", client_token},
             {"OPAL_POLICY_STORE_URL", url(store_port)},
             {"OPAL_CLIENT_API_SERVER_PORT", "0"}};
    e.insert(extra.begin(), extra.end());
    agent = start_with_port("agent", "opal-client", {"run"}, e);
    ASSERT_TRUE(poll_until([&] { return metric("pdl_agent_connected") == 1; }))
        << last_text << procs.all_logs();
  }

  prom_scrape scrape(int port) {
    auto r = http_call("GET", url(port) + "/metrics");
    last_text = r.body;
    return r.status == 200 ? parse_prometheus_text(r.body) : prom_scrape{};
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    try {
      return scrape(agent).value(name, labels);
    } catch (const std::exception&) {
      return -1;  // not there (yet)
    }
  }

  void publish(const std::string& body) {
    auto r = http_call("POST", url(server) + "/data/config", ds_token, body);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  /** Waits until the agent counted @p refused source refusals and @p applied applied updates. */
  void wait_for(double refused, double applied) {
    ASSERT_TRUE(poll_until(
        [&] {
          return metric("pdl_agent_updates_failed_total", {{"reason", "source_refused"}}) ==
                     refused &&
                 metric("pdl_agent_updates_applied_total") == applied;
        },
        20000ms))
        << last_text << procs.all_logs();
  }

  /** What the stand-in holds at @p path (null when nothing). */
  static json store_at(int store_port, const std::string& path) {
    auto r = http_call("GET", url(store_port) + "/v1/data" + path);
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("result") ? j["result"] : json(nullptr);
  }

  int server = 0;
  int agent = 0;
  std::string client_token;
  std::string ds_token;
  std::string last_text;
};

TEST_F(source_rules_it, an_agent_refuses_to_copy_its_own_policy_store) {
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const int source = start_with_port("source", "fake-data-source",
                                     {"--addr", "127.0.0.1:0", "--route", R"(/users={"u":1})"});
  ASSERT_EQ(http_call("PUT", url(opa) + "/v1/data/private", "", R"({"secret":"in-the-store"})")
                .status,
            204);
  start_server();
  start_agent(opa);
  const std::string store_port = std::to_string(opa);

  // The server cannot know this agent's store (an ephemeral port): it accepts both.
  publish(fetched(url(opa) + "/v1/data/private", "/copied"));
  publish(fetched("http://localhost:" + store_port + "/v1/data/private?x=1", "/copied_by_name"));
  publish(fetched(url(source) + "/users", "/users"));
  wait_for(2, 1);

  EXPECT_EQ(store_at(opa, "/users"), (json{{"u", 1}}));
  EXPECT_EQ(store_at(opa, "/copied"), nullptr);
  EXPECT_EQ(store_at(opa, "/copied_by_name"), nullptr);
  EXPECT_EQ(store_at(opa, "/private"), (json{{"secret", "in-the-store"}}));
  // Permanent: one attempt each (retry.attempts is 5), the good one included.
  EXPECT_EQ(metric("pdl_agent_fetch_seconds_count"), 3) << last_text;
  EXPECT_EQ(metric("pdl_agent_source_failures_total",
                   {{"source", url(opa) + "/v1/data/private"}, {"reason", "source_refused"}}),
            1)
      << last_text;
  const std::string logs = procs.all_logs();
  EXPECT_NE(logs.find("denied by default rule '127.0.0.1:" + store_port +
                      "' (the agent's policy store)"),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("denied by default rule 'localhost:" + store_port +
                      "' (the agent's policy store)"),
            std::string::npos)
      << logs;
}

TEST_F(source_rules_it, a_redirect_to_the_store_or_to_link_local_is_refused) {
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const int source = start_with_port("source", "fake-data-source", {"--addr", "127.0.0.1:0"});
  ASSERT_EQ(http_call("PUT", url(opa) + "/v1/data/private", "", R"({"secret":1})").status, 204);
  start_server();
  start_agent(opa);

  publish(fetched(url(source) + "/redirect?to=" + percent_encode(url(opa) + "/v1/data/private"),
                  "/r1"));
  publish(fetched(url(source) + "/redirect?status=307&to=" +
                      percent_encode("http://169.254.169.254/latest/meta-data/iam/"),
                  "/r2"));
  wait_for(2, 0);

  EXPECT_EQ(store_at(opa, "/r1"), nullptr);
  EXPECT_EQ(store_at(opa, "/r2"), nullptr);
  // The first hop was made (once each: refusals are not retried); the second never.
  const auto counts = json::parse(http_call("GET", url(source) + "/_source/requests").body);
  EXPECT_EQ(counts["paths"]["/redirect"]["requests"], 2) << counts.dump();
  const std::string logs = procs.all_logs();
  EXPECT_NE(logs.find("redirect refused: denied by default rule '127.0.0.1:" +
                      std::to_string(opa) + "' (the agent's policy store)"),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("redirect refused: denied by default rule '169.254.0.0/16'"),
            std::string::npos)
      << logs;
}

TEST_F(source_rules_it, a_strict_agent_fetches_only_what_its_allow_list_names) {
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const int source = start_with_port(
      "source", "fake-data-source",
      {"--addr", "127.0.0.1:0", "--route", R"(/allowed/users={"ok":true})", "--route",
       R"(/other={"no":true})"});
  start_server();
  start_agent(opa, {{"OPAL_FETCH_ALLOW", url(source) + "/allowed/"}});

  publish(fetched(url(source) + "/allowed/users", "/a"));
  publish(fetched(url(source) + "/other", "/o"));
  publish(fetched(url(source) + "/allowed/../other", "/o2"));
  wait_for(2, 1);

  EXPECT_EQ(store_at(opa, "/a"), (json{{"ok", true}}));
  EXPECT_EQ(store_at(opa, "/o"), nullptr);
  EXPECT_EQ(store_at(opa, "/o2"), nullptr);
  const auto counts = json::parse(http_call("GET", url(source) + "/_source/requests").body);
  EXPECT_EQ(counts["requests"], 1) << counts.dump();  // /other was never asked for
  EXPECT_NE(procs.all_logs().find("request refused: not in fetch.allow"), std::string::npos);
}

TEST_F(source_rules_it, the_address_a_name_resolves_to_is_checked) {
  // /etc/hosts cannot be edited from a test, so the name is "localhost" and the denied
  // addresses are loopback's: the URL passes (no rule names it), its addresses do not.
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const int source = start_with_port("source", "fake-data-source",
                                     {"--addr", "127.0.0.1:0", "--route", R"(/users={"u":1})"});
  start_server();
  start_agent(opa, {{"OPAL_FETCH_DENY", "127.0.0.0/8, ::1"}});

  publish(fetched("http://localhost:" + std::to_string(source) + "/users", "/by_name"));
  wait_for(1, 0);

  EXPECT_EQ(store_at(opa, "/by_name"), nullptr);
  const auto counts = json::parse(http_call("GET", url(source) + "/_source/requests").body);
  EXPECT_EQ(counts["requests"], 0) << counts.dump();
  const std::string logs = procs.all_logs();
  EXPECT_NE(logs.find("connection to "), std::string::npos) << logs;
  EXPECT_TRUE(logs.find("refused: denied by fetch.deny rule '127.0.0.0/8'") != std::string::npos ||
              logs.find("refused: denied by fetch.deny rule '::1'") != std::string::npos)
      << logs;
}

TEST_F(source_rules_it, the_server_refuses_to_publish_the_metadata_address_naming_the_rule) {
  start_server({{"OPAL_FETCH_DENY", "*.internal.example.com"}});
  auto r = http_call("POST", url(server) + "/data/config", ds_token,
                     fetched("http://169.254.169.254/latest/meta-data", "/md"));
  ASSERT_EQ(r.status, 422) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["detail"][0]["loc"], json::parse(R"(["body","entries",0,"url"])")) << r.body;
  EXPECT_EQ(body["detail"][0]["msg"],
            "source 'http://169.254.169.254/latest/meta-data' refused: denied by default rule "
            "'169.254.0.0/16' (link-local; cloud metadata at 169.254.169.254)");

  r = http_call("POST", url(server) + "/data/config", ds_token,
                fetched("https://db.internal.example.com/export", "/db"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("denied by fetch.deny rule '*.internal.example.com'"), std::string::npos)
      << r.body;
  r = http_call("POST", url(server) + "/data/config", ds_token,
                fetched("http://localhost:8181/v1/data", "/opa"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("agents' default policy store address"), std::string::npos) << r.body;

  EXPECT_EQ(http_call("POST", url(server) + "/data/config", ds_token,
                      fetched("https://api.example.com/v1/users", "/ok"))
                .status,
            200);
  const auto m = parse_prometheus_text(http_call("GET", url(server) + "/metrics").body);
  EXPECT_EQ(m.value("pdl_server_updates_refused_total", {{"reason", "source_refused"}}), 3);
}

TEST_F(source_rules_it, a_bad_entry_stops_both_binaries_at_startup_naming_it) {
  auto agent_check = run_command(binary_path("opal-client"), {"check-config"},
                                 {{"OPAL_FETCH_DENY", "10.0.0.0/8,10.0.0.1/8"}});
  EXPECT_NE(agent_check.exit_code, 0);
  EXPECT_NE(agent_check.output.find("env OPAL_FETCH_DENY: item 1: '10.0.0.1/8': bits are set "
                                    "past the prefix length (the network is 10.0.0.0/8)"),
            std::string::npos)
      << agent_check.output;
  auto server_check = run_command(binary_path("opal-server"), {"check-config"},
                                  {{"OPAL_FETCH_ALLOW", "a*b.example.com"}});
  EXPECT_NE(server_check.exit_code, 0);
  EXPECT_NE(server_check.output.find("env OPAL_FETCH_ALLOW: item 0: 'a*b.example.com'"),
            std::string::npos)
      << server_check.output;
}

}  // namespace
}  // namespace pdl::test
