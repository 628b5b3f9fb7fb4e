// An unchanged OPAL 0.9.x client (replayed by tests/support/fake_opal_client, as
// ../shared/opal-wire-policy.md recorded it) against our opal-server and the OPA stand-in:
//   - with the server's defaults it becomes ready with no update published and leaves the data
//     and policies already in OPA byte for byte as they were;
//   - with a policy directory it gets the full bundle, then follows changes as deltas;
//   - a control proves the readiness rule the first test relies on: with an empty base data
//     config the client is not ready even after its policy bundle is in.
#include "tests/support/fake_opal_client.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::regex hex40("[0-9a-f]{40}");

class opal_client_dropin : public process_fixture {
 protected:
  void TearDown() override {
    if (client) {
      client->stop();
    }
  }

  void start_store() { opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"}); }

  /** The server with @p env added to host, port and master token; mints both tokens. */
  void start_server(const std::map<std::string, std::string>& env = {}) {
    std::map<std::string, std::string> all{{"OPAL_AUTH_MASTER_TOKEN", master},
                                           {"OPAL_SERVER_HOST", "127.0.0.1"},
                                           {"OPAL_SERVER_BIND_PORT", "0"}};
    all.insert(env.begin(), env.end());
    server = start_with_port("server", "opal-server", {"run"}, all);
    auto mint = [&](const std::string& type) { return mint_token(server, master, type); };
    client_token = mint("client");
    ds_token = mint("datasource");
  }

  fake_opal_client& start_client() {
    fake_opal_client::options o;
    o.server_url = url(server);
    o.token = client_token;
    o.store_url = url(opa);
    client = std::make_unique<fake_opal_client>(o);
    client->start();
    return *client;
  }

  /** poll_until @p pred, ending early once the fake client has recorded a problem (it never
   *  retries, so a problem is final). @return pred() at the end. */
  bool wait_until(const std::function<bool()>& pred) {
    poll_until([&] { return pred() || (client && !client->problems().empty()); }, 20000ms);
    return pred();
  }

  std::string diagnostics() const {
    return (client ? client->describe() : std::string()) + procs.logs();
  }

  http_answer store(const std::string& path) { return http_call("GET", url(opa) + path); }
  /** The document at /v1/data<path> (null when undefined). */
  json store_data(const std::string& path) {
    auto r = store("/v1/data" + path);
    auto j = json::parse(r.body, nullptr, false);
    return r.status == 200 && j.is_object() ? j.value("result", json()) : json();
  }
  /** The text of policy @p id in the store (nullopt when absent). */
  std::optional<std::string> store_policy(const std::string& id) {
    auto r = store("/v1/policies/" + id);
    if (r.status != 200) {
      return std::nullopt;
    }
    return json::parse(r.body)["result"]["raw"].get<std::string>();
  }

  /** The frames of connection @p conn in one direction, parsed. */
  std::vector<json> frames(const std::string& conn, bool inbound) const {
    std::vector<json> out;
    for (const auto& f : client->frames()) {
      if (f.connection == conn && f.inbound == inbound) {
        out.push_back(json::parse(f.text));
      }
    }
    return out;
  }

  /** The fake's requests to the server whose URL starts with @p prefix (after the origin). */
  std::vector<fake_opal_client::request_record> server_requests(const std::string& prefix) const {
    std::vector<fake_opal_client::request_record> out;
    for (const auto& r : client->requests()) {
      if (r.url.rfind(url(server) + prefix, 0) == 0) {
        out.push_back(r);
      }
    }
    return out;
  }

  /** Each inbound notify was answered with the real client's exact reply frame. */
  void expect_every_notify_answered(const std::string& conn) {
    std::vector<std::string> sent;
    for (const auto& f : client->frames()) {
      if (f.connection == conn && !f.inbound) {
        sent.push_back(f.text);
      }
    }
    for (const auto& f : frames(conn, true)) {
      if (!f["request"].is_object() || f["request"]["method"] != "notify") {
        continue;
      }
      const std::string reply =
          R"({"request": null, "response": {"result": "None", "result_type": "str", "call_id": ")" +
          f["request"]["call_id"].get<std::string>() + R"("}})";
      EXPECT_NE(std::find(sent.begin(), sent.end(), reply), sent.end()) << reply;
    }
  }

  /** Both connections: 101 without our protocol header, then _ping_ and subscribe. */
  void expect_opal_start() {
    auto hs = client->handshakes();
    ASSERT_EQ(hs.size(), 2u) << diagnostics();
    for (const auto& h : hs) {
      EXPECT_EQ(h.status, 101) << h.connection;
      for (const auto& [name, value] : h.headers) {
        EXPECT_FALSE(iequals(name, "X-PDL-Protocol")) << "an OPAL client got " << name;
      }
    }
    const std::vector<std::pair<std::string, std::string>> subscriptions{
        {"policy", "policy:."}, {"data", "policy_data"}};
    for (const auto& [conn, topic] : subscriptions) {
      auto out = frames(conn, false);
      auto in = frames(conn, true);
      ASSERT_GE(out.size(), 2u) << conn << diagnostics();
      ASSERT_GE(in.size(), 2u) << conn << diagnostics();
      EXPECT_EQ(out[0]["request"]["method"], "_ping_");
      EXPECT_EQ(in[0]["response"]["result"], "pong");
      EXPECT_EQ(in[0]["response"]["call_id"], out[0]["request"]["call_id"]);
      EXPECT_EQ(out[1]["request"]["method"], "subscribe");
      EXPECT_EQ(out[1]["request"]["arguments"], (json{{"topics", {topic}}}));
      EXPECT_EQ(in[1]["response"]["result"], true);
      EXPECT_EQ(in[1]["response"]["call_id"], out[1]["request"]["call_id"]);
    }
  }

  /** The started client turns ready and healthy after OPAL's start-up exchanges, having asked
   *  GET /policy?path=. once: @p bundles gets that request. Fatal failures otherwise. */
  void wait_ready_with_one_bundle(std::vector<fake_opal_client::request_record>& bundles) {
    ASSERT_TRUE(wait_until([&] { return client->ready() && client->healthy(); }))
        << diagnostics();
    EXPECT_TRUE(client->problems().empty()) << diagnostics();
    expect_opal_start();
    bundles = server_requests("/policy");
    ASSERT_EQ(bundles.size(), 1u) << diagnostics();
    EXPECT_EQ(bundles[0].url, url(server) + "/policy?path=.");
  }

  static bool iequals(std::string a, std::string b) {
    auto lower = [](std::string s) {
      for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      return s;
    };
    return lower(std::move(a)) == lower(std::move(b));
  }

  const std::string master = "dropin-master-0123456789abcdef";
  std::string client_token;
  std::string ds_token;
  int opa = 0;
  int server = 0;
  std::unique_ptr<fake_opal_client> client;
};

const std::string seeded_users = R"({"alice":{"role":"admin"},"bob":{"role":"viewer"}})";
const std::string seeded_rego =
    "package mine\n\nimport rego.v1\n\ndefault allow := false\n\n"
    "allow if input.user == \"alice\"\n";

TEST_F(opal_client_dropin, default_server_ready_without_an_update_and_opa_left_alone) {
  start_store();
  ASSERT_EQ(http_call("PUT", url(opa) + "/v1/data/users", "", seeded_users).status, 204);
  ASSERT_EQ(http_call("PUT", url(opa) + "/v1/policies/mine.rego", "", seeded_rego).status, 200);
  const auto users_before = store("/v1/data/users");
  const auto policy_before = store("/v1/policies/mine.rego");
  const auto policies_before = store("/v1/policies");
  ASSERT_EQ(users_before.status, 200);
  ASSERT_EQ(policy_before.status, 200);

  start_server();
  auto& c = start_client();
  std::vector<fake_opal_client::request_record> bundles;
  ASSERT_NO_FATAL_FAILURE(wait_ready_with_one_bundle(bundles));

  // The bundle: an empty delta (so the client deletes nothing), and a base config it can apply.
  ASSERT_EQ(bundles[0].status, 200) << bundles[0].response_body;
  const json bundle = json::parse(bundles[0].response_body);
  ASSERT_TRUE(bundle["hash"].is_string()) << bundle;
  EXPECT_TRUE(std::regex_match(bundle["hash"].get<std::string>(), hex40)) << bundle;
  EXPECT_EQ(bundle["old_hash"], bundle["hash"]) << bundle;
  EXPECT_EQ(bundle["manifest"], json::array()) << bundle;
  EXPECT_EQ(bundle["data_modules"], json::array()) << bundle;
  EXPECT_EQ(bundle["policy_modules"], json::array()) << bundle;
  EXPECT_TRUE(bundle["deleted_files"].is_null()) << bundle;
  EXPECT_EQ(c.last_hash(), bundle["hash"].get<std::string>());
  auto configs = server_requests("/data/config");
  ASSERT_EQ(configs.size(), 1u) << diagnostics();
  EXPECT_EQ(configs[0].status, 200);

  // No policy was written or deleted, nothing deleted; what was in OPA is byte for byte there.
  for (const auto& r : c.requests()) {
    EXPECT_NE(r.method, "DELETE") << r.url;
    EXPECT_FALSE(r.method == "PUT" && r.url.find("/v1/policies") != std::string::npos) << r.url;
  }
  EXPECT_EQ(store("/v1/data/users").body, users_before.body);
  EXPECT_EQ(store("/v1/policies/mine.rego").body, policy_before.body);
  EXPECT_EQ(store("/v1/policies").body, policies_before.body);

  // A data update published on policy_data lands in the store through the fake client.
  const json update = {{"entries",
                        {{{"url", ""},
                          {"topics", {"policy_data"}},
                          {"dst_path", "/published"},
                          {"save_method", "PUT"},
                          {"data", {{"hello", "world"}, {"n", 1}}}}}},
                       {"reason", "opal client drop-in test"}};
  auto pub = http_call("POST", url(server) + "/data/config", ds_token, update.dump());
  ASSERT_EQ(pub.status, 200) << pub.body;
  const json published = {{"hello", "world"}, {"n", 1}};
  ASSERT_TRUE(wait_until([&] { return store_data("/published") == published; }))
      << store("/v1/data/published").body << diagnostics();
  EXPECT_GE(c.stats().notifies, 1u);
  expect_every_notify_answered("data");
  EXPECT_TRUE(c.healthy()) << diagnostics();
  EXPECT_TRUE(c.problems().empty()) << diagnostics();
  EXPECT_EQ(store("/v1/data/users").body, users_before.body);
  EXPECT_EQ(store("/v1/policies/mine.rego").body, policy_before.body);
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

const std::string rbac_v1 =
    "package app.rbac\n\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n"
    "\tsome role in data.rbac.roles[input.user]\n\trole == \"admin\"\n}\n";
const std::string rbac_v2 = rbac_v1 + "\nallow if input.user == \"root\"\n";
const std::string billing_v1 =
    "package app.billing\n\nimport rego.v1\n\ndefault can_pay := false\n\n"
    "can_pay if input.amount < 100\n";
const std::string rbac_data = "{\"roles\": {\"alice\": [\"admin\"], \"bob\": [\"viewer\"]}}\n";

TEST_F(opal_client_dropin, policy_directory_full_bundle_then_deltas_follow_its_changes) {
  const fs::path policy_dir = fs::path(dir.path()) / "policy";
  write_file(policy_dir / "rbac" / "rbac.rego", rbac_v1);
  write_file(policy_dir / "rbac" / "data.json", rbac_data);
  write_file(policy_dir / "billing" / "billing.rego", billing_v1);
  write_file(policy_dir / "docs" / "README.md", "# not policy\n");

  // A stale policy the full bundle must remove, and a system.* one OPAL's client leaves alone.
  start_store();
  ASSERT_EQ(http_call("PUT", url(opa) + "/v1/policies/stale.rego", "",
                      "package stale\n\nimport rego.v1\n\nx := 1\n")
                .status,
            200);
  const std::string system_rego = "package system.opal\n\nimport rego.v1\n\nready := true\n";
  ASSERT_EQ(
      http_call("PUT", url(opa) + "/v1/policies/engine/healthcheck/opal.rego", "", system_rego)
          .status,
      200);

  start_server({{"OPAL_POLICY_DIR", policy_dir.string()}});
  auto& c = start_client();
  std::vector<fake_opal_client::request_record> bundles;
  ASSERT_NO_FATAL_FAILURE(wait_ready_with_one_bundle(bundles));

  // The full bundle, as OPAL's server makes it from a repository.
  const json full = json::parse(bundles[0].response_body);
  const std::string h1 = full.value("hash", "");
  EXPECT_TRUE(std::regex_match(h1, hex40)) << full;
  EXPECT_TRUE(full["old_hash"].is_null()) << full;
  EXPECT_EQ(full["manifest"],
            json::array({"billing/billing.rego", "rbac/data.json", "rbac/rbac.rego"}))
      << full;
  EXPECT_EQ(full["data_modules"], json::array({json{{"path", "rbac"}, {"data", rbac_data}}}))
      << full;
  EXPECT_EQ(c.last_hash(), h1);

  EXPECT_EQ(store_policy("rbac/rbac.rego"), rbac_v1);
  EXPECT_EQ(store_policy("billing/billing.rego"), billing_v1);
  EXPECT_EQ(store_data("/rbac"), json::parse(rbac_data));
  EXPECT_EQ(store_policy("stale.rego"), std::nullopt);
  EXPECT_EQ(store_policy("engine/healthcheck/opal.rego"), system_rego);

  // rbac.rego changes (written aside, renamed into place: never seen half written) and
  // billing.rego goes: a notify on policy:., a delta from h1, the store follows.
  const fs::path staging = fs::path(dir.path()) / "staging.rego";
  write_file(staging, rbac_v2);
  fs::rename(staging, policy_dir / "rbac" / "rbac.rego");
  fs::remove(policy_dir / "billing" / "billing.rego");
  ASSERT_TRUE(wait_until([&] {
    return store_policy("rbac/rbac.rego") == rbac_v2 &&
           store_policy("billing/billing.rego") == std::nullopt;
  })) << diagnostics();

  json first_notify;
  for (const auto& f : frames("policy", true)) {
    if (f["request"].is_object() && f["request"]["method"] == "notify") {
      first_notify = f["request"]["arguments"];
      break;
    }
  }
  ASSERT_TRUE(first_notify.is_object()) << diagnostics();
  EXPECT_EQ(first_notify["subscription"]["topic"], "policy:.");
  EXPECT_EQ(first_notify["data"]["old_policy_hash"], h1);
  EXPECT_TRUE(first_notify["data"]["new_policy_hash"].is_string());
  EXPECT_TRUE(first_notify["data"]["changed_directories"].is_array());
  expect_every_notify_answered("policy");

  // Each delta asked from the hash of the bundle before it, the first from h1 (once the last
  // one fetched is applied: a bundle is recorded when it arrives).
  auto last_fetched_hash = [&] {
    auto all = server_requests("/policy");
    return json::parse(all.back().response_body, nullptr, false).value("hash", "");
  };
  ASSERT_TRUE(wait_until([&] { return c.last_hash() == last_fetched_hash(); })) << diagnostics();
  bundles = server_requests("/policy");
  ASSERT_GE(bundles.size(), 2u) << diagnostics();
  std::string base = h1;
  for (std::size_t i = 1; i < bundles.size(); ++i) {
    EXPECT_EQ(bundles[i].url, url(server) + "/policy?path=.&base_hash=" + base) << diagnostics();
    ASSERT_EQ(bundles[i].status, 200) << bundles[i].response_body;
    const json delta = json::parse(bundles[i].response_body);
    EXPECT_EQ(delta["old_hash"], base) << delta;
    base = delta.value("hash", "");
  }
  EXPECT_NE(c.last_hash(), h1);
  EXPECT_EQ(c.last_hash(), base);
  EXPECT_EQ(store_data("/rbac"), json::parse(rbac_data));  // unchanged data stays

  // data.json goes: its folder's document goes from the store.
  const std::size_t before = bundles.size();
  fs::remove(policy_dir / "rbac" / "data.json");
  ASSERT_TRUE(wait_until([&] { return store_data("/rbac").is_null(); }))
      << store("/v1/data/rbac").body << diagnostics();
  bundles = server_requests("/policy");
  ASSERT_GT(bundles.size(), before) << diagnostics();
  bool deleted_rbac = false;
  for (std::size_t i = before; i < bundles.size(); ++i) {
    const json delta = json::parse(bundles[i].response_body);
    const json& gone = delta["deleted_files"];
    deleted_rbac =
        deleted_rbac || (gone.is_object() && gone["data_modules"] == json::array({"rbac"}));
  }
  EXPECT_TRUE(deleted_rbac) << diagnostics();
  EXPECT_EQ(store_policy("rbac/rbac.rego"), rbac_v2);
  EXPECT_TRUE(c.ready());
  EXPECT_TRUE(c.healthy()) << diagnostics();
  EXPECT_TRUE(c.problems().empty()) << diagnostics();
}

TEST_F(opal_client_dropin, control_an_empty_base_data_config_keeps_the_client_unready) {
  start_store();
  start_server({{"OPAL_DATA_CONFIG_SOURCES", R"({"config":{"entries":[]}})"}});
  auto& c = start_client();
  // Both halves done: the policy bundle applied and the (empty) base config read.
  ASSERT_TRUE(wait_until([&] {
    return c.stats().policy_ok == 1 && server_requests("/data/config").size() == 1;
  })) << diagnostics();
  auto configs = server_requests("/data/config");
  ASSERT_EQ(configs[0].status, 200) << diagnostics();
  EXPECT_EQ(json::parse(configs[0].response_body), (json{{"entries", json::array()}}));
  // OPAL's rule: no data transaction, so neither ready nor healthy (opal-wire-policy.md 4, B).
  EXPECT_EQ(c.stats().data_ok, 0u);
  EXPECT_EQ(c.stats().data_failed, 0u);
  EXPECT_FALSE(c.ready()) << diagnostics();
  EXPECT_FALSE(c.healthy()) << diagnostics();
  EXPECT_TRUE(c.problems().empty()) << diagnostics();
}

}  // namespace
}  // namespace pdl::test
