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
#include "tests/support/redis_server.hpp"

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
  void start_server(const std::string& yaml = "", bool durable = true) {
    source = start_with_port(
        "source", "fake-data-source",
        {"--addr", "127.0.0.1:0", "--route", R"(/billing={"plan":"gold","seats":[1,2,3]})",
         "--require-header", std::string("Authorization: Bearer ") + source_secret});
    std::vector<std::string> args{"run"};
    if (durable) {
      args.insert(args.end(), {"--data-dir", dir + "/server"});
    }
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

  /** An OPA stand-in (unless @p opa is given) and our agent subscribed to billing, connected to
   *  @p servers (default: the server), keeping its state in @p data_dir when given.
   *  @return the OPA's port. */
  int start_agent(const std::string& name, int opa = 0, const std::string& data_dir = "",
                  std::string servers = "") {
    if (opa == 0) {
      opa = start_with_port(name + "-opa", "opa-standin", {"--addr", "127.0.0.1:0"});
    }
    std::vector<std::string> args{"run"};
    if (!data_dir.empty()) {
      args.insert(args.end(), {"--data-dir", data_dir});
    }
    const int agent = start_with_port(name, "opal-client", args,
                                      {{"OPAL_SERVER_URL", servers.empty() ? url(server) : servers},
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

  /** An unchanged OPAL client on policy_data and billing, writing to @p opa. */
  fake_opal_client::options opal_options(int opa) const {
    fake_opal_client::options o;
    o.server_url = url(server);
    o.token = client_token;
    o.store_url = url(opa);
    o.data_topics = {"policy_data", "billing"};
    return o;
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

  json store_at(int opa, const std::string& path) {
    auto j = json::parse(http_call("GET", url(opa) + "/v1/data" + path).body, nullptr, false);
    return j.is_object() && j.contains("result") ? j["result"] : json(nullptr);
  }

  /** The file of blob @p sha in the server's store (server.data_dir/blobs). */
  std::string blob_file(const std::string& sha) const {
    return dir + "/server/blobs/sha256/" + sha.substr(0, 2) + "/" + sha;
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
  fake_opal_client opal(opal_options(opal_opa));
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
  fake_opal_client opal(opal_options(opal_opa));
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

TEST_F(fetch_once, an_agent_refuses_a_blob_that_does_not_match_and_reports_a_missing_one) {
  start_server();
  const int opa = start_with_port("opa", "opa-standin", {"--addr", "127.0.0.1:0"});
  const std::string state = dir + "/agent-state";
  start_agent("first", opa, state);
  ASSERT_TRUE(poll_until([&] { return metric(agents.back(), "pdl_agent_connected") == 1; }))
      << procs.all_logs();
  ASSERT_EQ(procs["first"].stop(), 0);

  // Two updates while the agent is away; then the server's copies go bad: one changed in
  // place (same size, still JSON), one gone.
  auto r1 = publish(billing_entry());
  ASSERT_EQ(r1.status, 200) << r1.body;
  json other = billing_entry();
  other["dst_path"] = "/other";
  other["url"] = url(source) + "/echo?json=" + percent_encode(R"({"other":true})");
  auto r2 = publish(other);
  ASSERT_EQ(r2.status, 200) << r2.body;
  const std::string changed = json::parse(r1.body)["blobs"][0]["sha256"];
  const std::string gone = json::parse(r2.body)["blobs"][0]["sha256"];
  {
    std::fstream f(blob_file(changed), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f) << blob_file(changed);
    f.seekp(10);  // {"plan":"gold" -> {"plan":"hold"
    f.put('h');
  }
  ASSERT_TRUE(std::filesystem::remove(blob_file(gone)));
  auto r3 = http_call("POST", url(server) + "/data/config", datasource_token,
                      json{{"entries",
                            {{{"url", ""}, {"topics", {"billing"}}, {"dst_path", "/after"},
                              {"data", {{"ok", true}}}}}}}
                          .dump());
  ASSERT_EQ(r3.status, 200) << r3.body;

  // Back with its state: it resumes after its last seq, gets all three, applies only the third.
  const int again = (start_agent("again", opa, state), agents.back());
  ASSERT_TRUE(poll_until([&] { return store_at(opa, "/after") == json{{"ok", true}}; }))
      << procs.all_logs();
  ASSERT_TRUE(poll_until([&] {
    return metric(again, "pdl_agent_updates_failed_total", {{"reason", "blob_mismatch"}}) == 1 &&
           metric(again, "pdl_agent_updates_failed_total", {{"reason", "source_status"}}) == 1;
  })) << procs["again"].log();
  EXPECT_TRUE(store_at(opa, "/billing").is_null()) << "changed bytes were written";
  EXPECT_TRUE(store_at(opa, "/other").is_null());
  const std::string log = procs["again"].log();
  EXPECT_NE(log.find(changed.substr(0, 12)), std::string::npos) << log;
  EXPECT_NE(log.find("no longer has blob " + gone.substr(0, 12)), std::string::npos) << log;
  EXPECT_EQ(source_requests()["paths"]["/billing"]["requests"], 1) << "agents never go to the source";
}

TEST_F(fetch_once, replicas_fetch_once_for_the_cluster_and_a_killed_replica_loses_nothing) {
  if (!have_redis_server()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh)";
  redis_server redis(dir + "/redis");
  source = start_with_port(
      "source", "fake-data-source",
      {"--addr", "127.0.0.1:0", "--route", R"(/billing={"plan":"gold","seats":[1,2,3]})",
       "--require-header", std::string("Authorization: Bearer ") + source_secret});
  const std::string key = dir + "/signing.pem";
  ASSERT_EQ(run_command("/usr/bin/openssl", {"genrsa", "-out", key, "2048"}).exit_code, 0);
  const env replica_env{{"OPAL_AUTH_MASTER_TOKEN", master},
                        {"OPAL_AUTH_PRIVATE_KEY", key},
                        {"OPAL_BROADCAST_URI", redis.uri()},
                        {"OPAL_BROADCAST_CHANNEL_NAME", "fetch-once"},
                        {"OPAL_SERVER_HOST", "127.0.0.1"},
                        {"OPAL_SERVER_BIND_PORT", "0"}};
  const int a = start_with_port("replica-a", "opal-server", {"run"}, replica_env);
  const int b = start_with_port("replica-b", "opal-server", {"run"}, replica_env);
  server = a;
  client_token = mint_token(a, master, "client");
  datasource_token = mint_token(a, master, "datasource");
  // Two agents on each replica; those on A fall back to B.
  std::vector<int> stores;
  for (int i = 0; i < 4; ++i) {
    const std::string urls = i < 2 ? url(a) + "," + url(b) : url(b);
    stores.push_back(start_agent("agent" + std::to_string(i), 0, dir + "/agent" + std::to_string(i),
                                 urls));
  }
  ASSERT_TRUE(poll_until([&] {
    for (int ag : agents) {
      if (metric(ag, "pdl_agent_connected") != 1) {
        return false;
      }
    }
    return true;
  })) << procs.all_logs();

  auto first = publish(billing_entry());  // to replica A
  ASSERT_EQ(first.status, 200) << first.body;
  const json doc = json::parse(R"({"plan":"gold","seats":[1,2,3]})");
  ASSERT_TRUE(poll_until([&] {
    for (int s : stores) {
      if (store_at(s, "/billing") != doc) {
        return false;
      }
    }
    return true;
  })) << procs.all_logs();
  EXPECT_EQ(source_requests()["paths"]["/billing"]["requests"], 1)
      << "one GET for the cluster: B served the blob it copied from Redis";

  // A second document through A, then A dies at once: B has it from Redis, and A's agents
  // come to B for it.
  json second = billing_entry();
  second["dst_path"] = "/second";
  second["url"] = url(source) + "/echo?json=" + percent_encode(R"({"second":2})");
  ASSERT_EQ(procs["agent0"].stop(), 0);  // away while A dies: it resumes from B later
  auto r = publish(second);
  ASSERT_EQ(r.status, 200) << r.body;
  procs["replica-a"].kill9();
  start_agent("agent0-again", stores[0], dir + "/agent0", url(a) + "," + url(b));
  ASSERT_TRUE(poll_until([&] {
    for (int s : stores) {
      if (store_at(s, "/second") != json{{"second", 2}}) {
        return false;
      }
    }
    return true;
  }, std::chrono::seconds(30))) << procs.all_logs();
  EXPECT_EQ(source_requests()["paths"]["/echo"]["requests"], 1);
  EXPECT_EQ(procs.all_logs().find(source_secret), std::string::npos);
}

TEST_F(fetch_once, a_blob_no_update_refers_to_any_more_is_removed) {
  // The log keeps one update: publishing a second one drops the first, and its blob goes.
  start_server("limits: {retained_updates: 1}\n"
               "blobs: {dir: '" + dir + "/blobs', retention_interval_seconds: 1,\n"
               "        retention_grace_seconds: 1}\n",
               false);
  auto r1 = publish(billing_entry());
  ASSERT_EQ(r1.status, 200) << r1.body;
  json second = billing_entry();
  second["url"] = url(source) + "/echo?json=" + percent_encode(R"({"second":2})");
  auto r2 = publish(second);
  ASSERT_EQ(r2.status, 200) << r2.body;
  const std::string first_sha = json::parse(r1.body)["blobs"][0]["sha256"];
  const std::string second_sha = json::parse(r2.body)["blobs"][0]["sha256"];
  EXPECT_EQ(http_call("GET", url(server) + "/data/blobs/" + first_sha, client_token).status, 200);

  ASSERT_TRUE(poll_until([&] { return metric(server, "pdl_server_blobs") == 1; },
                         std::chrono::seconds(20)))
      << procs.all_logs();
  EXPECT_EQ(http_call("GET", url(server) + "/data/blobs/" + first_sha, client_token).status, 404);
  EXPECT_EQ(http_call("GET", url(server) + "/data/blobs/" + second_sha, client_token).status,
            200);
  EXPECT_EQ(metric(server, "pdl_server_blob_bytes"), std::string(R"({"second":2})").size());
  EXPECT_GT(metric(server, "pdl_server_blob_freed_bytes_total"), 0);
  EXPECT_GT(metric(server, "pdl_server_blob_max_bytes"), 0);
}

TEST_F(fetch_once, a_base_entry_is_refreshed_at_the_server_and_published_only_when_it_changes) {
  source = start_with_port(
      "source", "fake-data-source",
      {"--addr", "127.0.0.1:0", "--route", R"(/base={"v":1})", "--require-header",
       std::string("Authorization: Bearer ") + source_secret});
  // Two base entries refreshed every second by the server: one from a source with an ETag
  // (conditional GETs, 304), one without (compared by hash).
  const std::string yaml =
      "data:\n"
      "  config_sources:\n"
      "    config:\n"
      "      entries:\n"
      "        - {url: '" + url(source) + "/base', topics: [billing], dst_path: /base,\n"
      "           fetched_by: server, periodic_update_interval: 1,\n"
      "           config: {headers: {Authorization: 'Bearer " + source_secret + "'}}}\n"
      "        - {url: '" + url(source) + "/echo?json=" + percent_encode(R"({"static":true})") +
      "', topics: [billing], dst_path: /static, fetched_by: server,\n"
      "           periodic_update_interval: 1,\n"
      "           config: {headers: {Authorization: 'Bearer " + source_secret + "'}}}\n";
  std::ofstream(dir + "/server.yaml") << yaml;
  server = start_with_port("server", "opal-server", {"run", "--config", dir + "/server.yaml"},
                           {{"OPAL_AUTH_MASTER_TOKEN", master},
                            {"OPAL_SERVER_HOST", "127.0.0.1"},
                            {"OPAL_SERVER_BIND_PORT", "0"}});
  client_token = mint_token(server, master, "client");
  const int one = start_agent("one");
  const int two = start_agent("two");
  ASSERT_TRUE(poll_until([&] {
    return store_at(one, "/base") == json{{"v", 1}} && store_at(two, "/base") == json{{"v", 1}} &&
           store_at(one, "/static") == json{{"static", true}} &&
           store_at(two, "/static") == json{{"static", true}};
  })) << procs.all_logs();

  // Refreshes go on at the server: 304s and same-hash documents publish nothing.
  ASSERT_TRUE(poll_until([&] {
    const json c = source_requests()["paths"];
    return c["/base"]["not_modified"].get<int>() >= 2 && c["/echo"]["requests"].get<int>() >= 3;
  }, std::chrono::seconds(20))) << source_requests();
  EXPECT_EQ(metric(server, "pdl_server_updates_accepted_total"), 2) << "one update per entry";

  // What agents and OPAL clients load: the blobs, signed, without the source's header and
  // without an interval of their own.
  const auto config = http_call("GET", url(server) + "/data/config", client_token);
  ASSERT_EQ(config.status, 200);
  EXPECT_EQ(config.body.find(source_secret), std::string::npos) << config.body;
  const json entries = json::parse(config.body)["entries"];
  ASSERT_EQ(entries.size(), 2u) << config.body;
  for (const auto& e : entries) {
    EXPECT_NE(e["url"].get<std::string>().find("/data/blobs/"), std::string::npos) << e;
    EXPECT_TRUE(e.contains("blob")) << e;
    EXPECT_TRUE(e["periodic_update_interval"].is_null()) << e;
    EXPECT_TRUE(e["config"].is_null()) << e;
  }

  // The document changes: one more update, both agents get it, still one fetch per round.
  ASSERT_EQ(http_call("PUT", url(source) + "/_source/route?path=%2Fbase", "", R"({"v":2})").status,
            200);
  ASSERT_TRUE(poll_until([&] {
    return store_at(one, "/base") == json{{"v", 2}} && store_at(two, "/base") == json{{"v", 2}};
  })) << procs.all_logs();
  EXPECT_EQ(metric(server, "pdl_server_updates_accepted_total"), 3);
  const json c = source_requests()["paths"]["/base"];
  EXPECT_EQ(c["requests"].get<int>() - c["not_modified"].get<int>(), 2)
      << "two full GETs at the source, for the whole fleet: " << c;
  EXPECT_EQ(procs.all_logs().find(source_secret), std::string::npos);
}

TEST_F(fetch_once, without_a_writable_temp_folder_the_server_runs_and_refuses_only_fetch_once) {
  // A read-only root and no blobs.dir (a container without a volume): the server starts, says
  // why fetch once is off, and refuses only the publishes that need it.
  source = start_with_port("source", "fake-data-source",
                           {"--addr", "127.0.0.1:0", "--route", R"(/billing={"plan":"gold"})"});
  server = start_with_port("server", "opal-server", {"run"},
                           {{"OPAL_AUTH_MASTER_TOKEN", master},
                            {"OPAL_SERVER_HOST", "127.0.0.1"},
                            {"OPAL_SERVER_BIND_PORT", "0"},
                            {"TMPDIR", "/proc/no-such-folder"}});
  datasource_token = mint_token(server, master, "datasource");
  client_token = mint_token(server, master, "client");
  json entry = billing_entry();
  entry["config"] = json::object();
  auto refused = publish(entry);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("blobs.dir"), std::string::npos) << refused.body;
  entry["fetched_by"] = "agent";
  EXPECT_EQ(publish(entry).status, 200);
  EXPECT_EQ(http_call("GET", url(server) + "/data/blobs/" + std::string(64, 'a'), client_token).status,
            404);
  EXPECT_NE(procs["server"].log().find("fetch once is off"), std::string::npos);
}

}  // namespace
}  // namespace pdl::test
