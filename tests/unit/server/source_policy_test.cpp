#include "server/source_policy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/server_metrics.hpp"
#include "tests/support/prometheus_text.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

std::string verdict(const http_client::source_rules& rules, const std::string& url) {
  auto r = rules.check_url(url);
  return r ? r->message : "";
}

std::string fetched_update(const std::vector<std::string>& urls) {
  json entries = json::array();
  for (const auto& u : urls) {
    entries.push_back({{"url", u}, {"topics", {"policy_data"}}, {"dst_path", "/src"}});
  }
  return json{{"entries", entries}, {"reason", "source rules test"}}.dump();
}

TEST(server_source_rules, DefaultsRefuseMetadataAndAgentsDefaultStoreAndApi) {
  const auto rules = server_source_rules(config::load_server_config("", {}));
  EXPECT_THAT(verdict(rules, "http://169.254.169.254/latest/meta-data"),
              HasSubstr("denied by default rule '169.254.0.0/16'"));
  EXPECT_THAT(verdict(rules, "http://localhost:8181/v1/data/secrets"),
              HasSubstr("(agents' default policy store address)"));
  EXPECT_THAT(verdict(rules, "http://127.0.0.1:8181/v1/data"), HasSubstr("policy store"));
  EXPECT_THAT(verdict(rules, "http://[::1]:8181/v1/data"), HasSubstr("policy store"));
  EXPECT_THAT(verdict(rules, "http://127.0.0.1:7000/status"),
              HasSubstr("(agents' default API address)"));
  EXPECT_EQ(verdict(rules, "http://127.0.0.1:8080/data"), "");  // a sidecar source
  EXPECT_EQ(verdict(rules, "http://10.0.0.7:8181/v1/data"), "");  // someone else's OPA
}

TEST(server_source_rules, ConfiguredListsComeAfterTheDefaults) {
  auto cfg = config::load_server_config(
      "", {{"OPAL_FETCH_DENY", "*.internal.example.com"},
           {"OPAL_FETCH_ALLOW", "https://api.example.com/v1/"}});
  const auto rules = server_source_rules(cfg);
  EXPECT_EQ(verdict(rules, "https://x.internal.example.com/"),
            "denied by fetch.deny rule '*.internal.example.com'");
  EXPECT_EQ(verdict(rules, "https://other.example.com/"), "not in fetch.allow");
  EXPECT_EQ(verdict(rules, "https://api.example.com/v1/users"), "");
}

TEST(server_source_rules, CheckSourcesNamesTheEntryAndNeverEchoesSecrets) {
  const auto rules = http_client::source_rules::with_defaults();
  model::data_update u;
  u.entries.resize(3);
  u.entries[0].url = "https://api.example.com/a";
  u.entries[1].url = "http://169.254.169.254/x";  // inline data: nothing is fetched
  u.entries[1].data_json = "{}";
  u.entries[2].url = "http://user:pw@169.254.169.254/latest?token=s3cr3t";
  try {
    check_sources(rules, u);
    FAIL() << "not refused";
  } catch (const model::invalid_input& e) {
    EXPECT_EQ(e.path(), "entries[2].url");
    EXPECT_EQ(e.message(),
              "source 'http://169.254.169.254/latest' refused: denied by default rule "
              "'169.254.0.0/16' (link-local; cloud metadata at 169.254.169.254)");
  }
  u.entries.pop_back();
  EXPECT_NO_THROW(check_sources(rules, u));
}

/** A server of its own: the suite's config differs per test. */
class source_rules_server : public ::testing::Test {
 protected:
  void start(config::server_config cfg) {
    srv_ = server::start(std::move(cfg));
    datasource_ = mint(srv_->port(), "datasource");
  }
  reply publish(const std::string& body) {
    return call(srv_->port(), "POST", "/data/config", datasource_, body);
  }
  double refused(const std::string& reason) {
    auto m = pdl::test::parse_prometheus_text(call(srv_->port(), "GET", "/metrics").body);
    return m.value("pdl_server_updates_refused_total", {{"reason", reason}});
  }

  pem_pair keys_ = make_pem_pair();
  std::unique_ptr<server> srv_;
  std::string datasource_;
};

TEST_F(source_rules_server, APublishOfTheMetadataAddressIs422NamingTheEntryAndTheRule) {
  start(test_config(keys_));
  const auto head = srv_->context().updates->head();
  auto r = publish(fetched_update({"https://api.example.com/ok",
                                   "http://169.254.169.254/latest/meta-data?x=s3cr3t"}));
  ASSERT_EQ(r.status, 422) << r.body;
  const json body = r.json();
  ASSERT_TRUE(body["detail"].is_array()) << r.body;
  EXPECT_EQ(body["detail"][0]["loc"], json::parse(R"(["body","entries",1,"url"])"));
  EXPECT_EQ(body["detail"][0]["type"], "value_error");
  EXPECT_EQ(body["detail"][0]["msg"],
            "source 'http://169.254.169.254/latest/meta-data' refused: denied by default rule "
            "'169.254.0.0/16' (link-local; cloud metadata at 169.254.169.254)");
  EXPECT_THAT(body["error"].get<std::string>(), HasSubstr("entries[1].url: source"));
  EXPECT_THAT(r.body, Not(HasSubstr("s3cr3t")));
  EXPECT_EQ(srv_->context().updates->head(), head);  // nothing stored
  EXPECT_EQ(refused("source_refused"), 1);
  EXPECT_EQ(refused("invalid"), 0);

  // Inline data under the same url is fetched by nobody: accepted.
  json inline_entry = {{"url", "http://169.254.169.254/"}, {"topics", {"policy_data"}},
                       {"dst_path", "/x"}, {"data", {{"a", 1}}}};
  EXPECT_EQ(publish(json{{"entries", {inline_entry}}}.dump()).status, 200);
}

TEST_F(source_rules_server, AWebSocketPublishIsRefusedLikewise) {
  start(test_config(keys_));
  const auto head = srv_->context().updates->head();
  ws_client c(srv_->port(), datasource_);
  json args = {{"topics", {"policy_data"}},
               {"data", json::parse(fetched_update({"http://localhost:8181/v1/data/private"}))}};
  EXPECT_EQ(c.expect_response(c.call("publish", args.dump())).result_json, "false");
  EXPECT_EQ(srv_->context().updates->head(), head);
  EXPECT_EQ(refused("source_refused"), 1);
  // The same socket may still publish an allowed source.
  args["data"] = json::parse(fetched_update({"http://127.0.0.1:8080/data"}));
  EXPECT_EQ(c.expect_response(c.call("publish", args.dump())).result_json, "true");
}

TEST_F(source_rules_server, AStrictProfileRefusesANonListedHost) {
  auto cfg = test_config(keys_);
  cfg.fetch_allow = {"https://api.example.com/v1/", "*.data.example.com"};
  start(std::move(cfg));
  auto r = publish(fetched_update({"https://evil.example.net/v1/x"}));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["detail"][0]["msg"],
            "source 'https://evil.example.net/v1/x' refused: not in fetch.allow");
  EXPECT_EQ(publish(fetched_update({"https://api.example.com/v1/users"})).status, 200);
  EXPECT_EQ(publish(fetched_update({"https://eu.data.example.com/x"})).status, 200);
  EXPECT_EQ(publish(fetched_update({"https://api.example.com/v2/users"})).status, 422);
  EXPECT_EQ(publish(fetched_update({"http://10.1.2.3/data"})).status, 422);
}

TEST_F(source_rules_server, WithAnAddressInTheAllowListANameIsLeftToTheAgents) {
  auto cfg = test_config(keys_);
  cfg.fetch_allow = {"10.0.0.0/8"};
  start(std::move(cfg));
  EXPECT_EQ(publish(fetched_update({"http://10.1.2.3/data"})).status, 200);
  EXPECT_EQ(publish(fetched_update({"http://192.168.1.1/x"})).status, 422);
  // A name may resolve into 10.0.0.0/8: each agent checks the address after DNS.
  EXPECT_EQ(publish(fetched_update({"http://data.internal/x"})).status, 200);
}

}  // namespace
}  // namespace pdl::server
