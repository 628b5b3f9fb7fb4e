// Fetch once (issue 12, docs/fetch-once.md) with real processes: an entry with
// "fetched_by": "server" is fetched by the server alone, with the source's credentials, and
// every agent (ours, and an unchanged OPAL client) gets identical bytes from the server without
// ever seeing those credentials. A source that fails refuses the publish and stores nothing.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/auth/sha256.hpp"
#include "tests/support/fake_opal_client.hpp"
#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/prometheus_text.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;
using env = std::map<std::string, std::string>;

constexpr const char* source_secret = "billing-source-credential-0042";

class fetch_once : public process_fixture {
 protected:
  const std::string master = "fetch-once-master-0123456789abcdef";

  void SetUp() override {
    dir = ::testing::TempDir() + "/pdl-fetch-once-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  /** The server (with a data directory, so blobs live at a known place), a source that needs
   *  a header, and the two tokens. @p yaml: extra server config. */
  void start_server(const std::string& yaml = "") {
    source = start_with_port(
        "source", "fake-data-source",
        {"--addr", "127.0.0.1:0", "--route", R"(/billing={"plan":"gold","seats":[1,2,3]})",
         "--require-header", std::string("Authorization: Bearer ") + source_secret});
    std::vector<std::string> args{"run", "--data-dir", dir + "/server"};
    if (!yaml.empty()) {
      std::ofstream(dir + "/server.yaml") << yaml;
      args.insert(args.end(), {"--config", dir + "/server.yaml"});
    }
    server = start_with_port("server", "opal-server", args,
                             {{"OPAL_AUTH_MASTER_TOKEN", master},
                              {"OPAL_SERVER_HOST", "127.0.0.1"},
                              {"OPAL_SERVER_BIND_PORT", "0"}});
    client_token = mint_token(server, master, "client");
    datasource_token = mint_token(server, master, "datasource");
  }

  /** An OPA stand-in and our agent subscribed to billing. @return the OPA's port. */
  int start_agent(const std::string& name) {
    const int opa = start_with_port(name + "-opa", "opa-standin", {"--addr", "127.0.0.1:0"});
    const int agent = start_with_port(name, "opal-client", {"run"},
                                      {{"OPAL_SERVER_URL", url(server)},
                                       {"OPAL_CLIENT_TOKEN", client_token},
                                       {"OPAL_POLICY_STORE_URL", url(opa)},
                                       {"OPAL_DATA_TOPICS", "billing"},
                                       {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
    agents.push_back(agent);
    return opa;
  }

  json billing_entry(const std::string& path = "/billing") const {
    return {{"url", url(source) + path},
            {"topics", {"billing"}},
            {"dst_path", "/billing"},
            {"fetched_by", "server"},
            {"config",
             {{"headers", {{"Authorization", std::string("Bearer ") + source_secret}}}}}};
  }

  http_answer publish(const json& entry) {
    return http_call("POST", url(server) + "/data/config", datasource_token,
                     json{{"entries", {entry}}}.dump());
  }

  double metric(int port, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
    auto r = http_call("GET", url(port) + "/metrics");
    try {
      return parse_prometheus_text(r.body).value(name, labels);
    } catch (const std::exception&) {
      return -1;
    }
  }

  json source_requests() {
    return json::parse(http_call("GET", url(source) + "/_source/requests").body);
  }

  std::string dir;
  int source = 0;
  int server = 0;
  std::vector<int> agents;
  std::string client_token;
  std::string datasource_token;
};

TEST_F(fetch_once, six_agents_and_an_opal_client_one_get_at_the_source_identical_stores) {
  start_server();
  std::vector<int> stores;
  for (int i = 0; i < 6; ++i) {
    stores.push_back(start_agent("agent" + std::to_string(i)));
  }
  const int opal_opa = start_with_port("opal-opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  fake_opal_client::options o;
  o.server_url = url(server);
  o.token = client_token;
  o.store_url = url(opal_opa);
  o.data_topics = {"policy_data", "billing"};
  fake_opal_client opal(o);
  opal.start();
  ASSERT_TRUE(poll_until([&] {
    for (int a : agents) {
      if (metric(a, "pdl_agent_connected") != 1) {
        return false;
      }
    }
    return opal.ready();
  })) << procs.all_logs() << opal.describe();

  const std::string doc = R"({"plan":"gold","seats":[1,2,3]})";
  auto r = publish(billing_entry());
  ASSERT_EQ(r.status, 200) << r.body << procs.all_logs();
  const json answer = json::parse(r.body);
  ASSERT_EQ(answer["blobs"].size(), 1u) << r.body;
  EXPECT_EQ(answer["blobs"][0]["entry"], 0);
  EXPECT_EQ(answer["blobs"][0]["sha256"], auth::sha256_hex(doc)) << r.body;
  EXPECT_EQ(answer["blobs"][0]["size"], doc.size());

  auto store_text = [&](int opa) { return http_call("GET", url(opa) + "/v1/data/billing").body; };
  const std::string expected = json{{"result", json::parse(doc)}}.dump();
  ASSERT_TRUE(poll_until([&] {
    for (int s : stores) {
      if (json::parse(store_text(s), nullptr, false) != json::parse(expected)) {
        return false;
      }
    }
    return json::parse(store_text(opal_opa), nullptr, false) == json::parse(expected);
  })) << procs.all_logs() << opal.describe();
  // Byte-identical answers from every store.
  for (int s : stores) {
    EXPECT_EQ(store_text(s), store_text(stores.front()));
  }
  const json counts = source_requests();
  EXPECT_EQ(counts["paths"]["/billing"]["requests"], 1) << counts;
  EXPECT_EQ(counts["paths"]["/billing"]["authorized"], 1) << counts;

  // The OPAL client got a URL on our server it opened with no header at all, and nowhere did
  // the source's credential travel or get logged.
  bool saw_notify = false;
  for (const auto& f : opal.frames()) {
    EXPECT_EQ(f.text.find(source_secret), std::string::npos) << f.text;
    if (f.inbound && f.text.find("/data/blobs/" + auth::sha256_hex(doc)) != std::string::npos) {
      saw_notify = true;
    }
  }
  EXPECT_TRUE(saw_notify) << opal.describe();
  bool fetched_blob = false;
  for (const auto& q : opal.requests()) {
    if (q.url.find("/data/blobs/") != std::string::npos) {
      fetched_blob = true;
      EXPECT_EQ(q.status, 200) << q.url;
      for (const auto& [name, value] : q.headers) {
        EXPECT_NE(name, "Authorization") << "the signed URL needs no token";
      }
    }
  }
  EXPECT_TRUE(fetched_blob) << opal.describe();
  EXPECT_EQ(procs.all_logs().find(source_secret), std::string::npos) << "the credential is logged";
  opal.stop();
}

TEST_F(fetch_once, a_failing_source_refuses_the_publish_and_stores_nothing) {
  start_server("blobs:\n  fetch_timeout_ms: 1000\n");
  const std::string broken = R"({"plan": "gold", oops})";
  struct attempt {
    std::string what;
    json entry;
    int status;
    std::string says;
  };
  json bad_json = billing_entry("/echo?raw=1&json=" + percent_encode(broken));
  json missing = billing_entry("/no-such-document");
  json no_credential = billing_entry();
  no_credential.erase("config");
  json down = billing_entry();
  down["url"] = "http://127.0.0.1:1/billing";
  const std::vector<attempt> attempts{
      {"invalid JSON", bad_json, 422, "invalid JSON"},
      {"a 404", missing, 422, "answered HTTP 404"},
      {"no credential", no_credential, 422, "answered HTTP 401"},
      {"nobody listening", down, 502, "failed"},
  };
  for (const auto& a : attempts) {
    auto r = publish(a.entry);
    EXPECT_EQ(r.status, a.status) << a.what << ": " << r.body;
    EXPECT_NE(r.body.find(a.says), std::string::npos) << a.what << ": " << r.body;
    EXPECT_NE(r.body.find("entries"), std::string::npos) << a.what << ": names the entry";
    EXPECT_EQ(r.body.find(source_secret), std::string::npos) << r.body;
  }
  ASSERT_EQ(http_call("POST", url(source) + "/_source/hang?count=1").status, 200);
  auto hung = publish(billing_entry());
  EXPECT_EQ(hung.status, 504) << hung.body;

  EXPECT_EQ(metric(server, "pdl_server_updates_refused_total", {{"reason", "source_failed"}}), 5)
      << procs.all_logs();
  // Nothing was appended: the next good publish is the first update of the log.
  auto ok = publish(billing_entry());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["seq"], 1) << ok.body;
  // Only that one blob is in the store, and no temp file is left behind.
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/server/blobs")) {
    files += e.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(fetch_once, the_blob_route_needs_a_client_token_or_a_valid_signature) {
  start_server();
  const int opal_opa = start_with_port("opal-opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  fake_opal_client::options o;
  o.server_url = url(server);
  o.token = client_token;
  o.store_url = url(opal_opa);
  o.data_topics = {"policy_data", "billing"};
  fake_opal_client opal(o);
  opal.start();
  ASSERT_TRUE(poll_until([&] { return opal.ready(); })) << opal.describe();
  auto r = publish(billing_entry());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string sha = json::parse(r.body)["blobs"][0]["sha256"];
  std::string signed_url;
  ASSERT_TRUE(poll_until([&] {
    for (const auto& q : opal.requests()) {
      if (q.url.find("/data/blobs/") != std::string::npos) {
        signed_url = q.url;
      }
    }
    return !signed_url.empty();
  })) << opal.describe();
  opal.stop();
  const std::string blob = url(server) + "/data/blobs/" + sha;

  EXPECT_EQ(http_call("GET", blob, client_token).status, 200);
  EXPECT_EQ(http_call("GET", signed_url).status, 200) << signed_url;
  EXPECT_EQ(http_call("GET", blob).status, 401) << "no token, no signature";
  EXPECT_EQ(http_call("GET", blob, datasource_token).status, 403) << "a publisher reads no blob";
  EXPECT_EQ(http_call("GET", blob, "not-a-jwt").status, 401);
  std::string forged = signed_url;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(http_call("GET", forged).status, 403) << forged;
  const auto q = signed_url.find("?expires=");
  ASSERT_NE(q, std::string::npos);
  std::string moved = signed_url;
  moved[q + 9] = moved[q + 9] == '1' ? '2' : '1';  // a later expiry: the signature no longer fits
  EXPECT_EQ(http_call("GET", moved).status, 403) << moved;
  std::string other = blob;
  other.back() = other.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(http_call("GET", other, client_token).status, 404);
  EXPECT_EQ(http_call("GET", url(server) + "/data/blobs/not-a-hash", client_token).status, 404);
}

}  // namespace
}  // namespace pdl::test
