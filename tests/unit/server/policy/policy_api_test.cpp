// GET /policy over HTTP (auth, statuses as recorded from OPAL's server) and the notify frames a
// change in the directory sends on policy:<dir> topics, one per subscribed topic.
#include <sys/socket.h>
#include <sys/time.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/unit/agent/temp_dir.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using agent::test::temp_dir;
using nlohmann::json;
namespace fs = std::filesystem;

void write(const temp_dir& d, const std::string& rel, const std::string& text) {
  fs::create_directories(fs::path(d.file(rel)).parent_path());
  d.write(rel, text);
}

/** A read that fails after 10 s instead of hanging the suite. */
void limit_reads(ws_client& ws) {
  timeval tv{10, 0};
  ::setsockopt(ws.stream().next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

class policy_api : public ::testing::Test {
 protected:
  void SetUp() override {
    write(dir_, "rbac/rbac.rego", "package app.rbac\n\nimport rego.v1\n\ndefault allow := false\n");
    write(dir_, "rbac/data.json", "{\"roles\": {}}\n");
    write(dir_, "billing/billing.rego", "package app.billing\n");
    write(dir_, "docs/README.md", "not a module\n");
    auto cfg = test_config(keys_);
    cfg.policy_dir = dir_.path();
    srv_ = server::start(cfg);
    client_ = mint(port(), "client");
  }
  std::uint16_t port() const { return srv_->port(); }

  static inline pem_pair keys_ = make_pem_pair();
  temp_dir dir_;
  std::unique_ptr<server> srv_;
  std::string client_;
};

TEST_F(policy_api, any_server_jwt_reads_bundles_and_nothing_else_does) {
  auto full = call(port(), "GET", "/policy?path=.", client_);
  ASSERT_EQ(full.status, 200) << full.body;
  EXPECT_EQ(full.json()["manifest"],
            json({"billing/billing.rego", "rbac/data.json", "rbac/rbac.rego"}));
  EXPECT_EQ(call(port(), "GET", "/policy", mint(port(), "datasource")).body, full.body);

  auto none = call(port(), "GET", "/policy?path=.");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body, R"({"detail":{"error":"access token was not provided"}})");
  auto master = call(port(), "GET", "/policy?path=.", master_token);
  EXPECT_EQ(master.status, 401);
  EXPECT_EQ(master.body.find(master_token), std::string::npos) << "a token is never echoed";

  EXPECT_EQ(call(port(), "GET", "/policy?path=nonexistent", client_).status, 404);
  auto bad = call(port(), "GET", "/policy?base_hash=notahash", client_);
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.json()["detail"][0]["loc"], json({"query", "base_hash"}));
}

TEST_F(policy_api, a_change_is_announced_on_each_subscribed_policy_topic) {
  // An unchanged OPAL client subscribes to policy:. without our protocol header.
  ws_client dot(port(), client_, {});
  ws_client folders(port(), client_, {});
  ws_client data(port(), client_, {});
  for (auto* ws : {&dot, &folders, &data}) {
    ASSERT_FALSE(ws->handshake_error()) << ws->handshake_error().message();
    limit_reads(*ws);
  }
  ASSERT_TRUE(dot.subscribe({"policy:."}));
  ASSERT_TRUE(folders.subscribe({"policy:rbac", "policy:billing", "policy:docs"}));
  ASSERT_TRUE(data.subscribe({"policy_data"}));
  const std::string first = call(port(), "GET", "/policy", client_).json()["hash"];

  write(dir_, "rbac/rbac.rego", "package app.rbac\n\nimport rego.v1\n\ndefault allow := true\n");
  fs::remove(dir_.file("billing/billing.rego"));

  auto f = dot.read();
  ASSERT_TRUE(f.req);
  EXPECT_EQ(f.req->method, "notify");
  auto args = json::parse(f.req->arguments_json);
  EXPECT_EQ(args["subscription"]["topic"], "policy:.");
  const json message = args["data"];
  const std::string second = call(port(), "GET", "/policy", client_).json()["hash"];
  // Both edits may land in one read or in two; the last notify names the served bundle.
  json last = message;
  std::set<std::string> folder_topics;
  while (last["new_policy_hash"] != second) {
    auto more = dot.read();
    ASSERT_TRUE(more.req);
    last = json::parse(more.req->arguments_json)["data"];
  }
  EXPECT_EQ(message["old_policy_hash"], first);
  EXPECT_THAT(f.req->arguments_json, ::testing::HasSubstr(R"("data": {"old_policy_hash": ")"));

  // The folder subscriber: one frame per subscribed folder that changed, none for docs.
  while (folder_topics.size() < 2) {
    auto g = folders.read();
    ASSERT_TRUE(g.req);
    folder_topics.insert(json::parse(g.req->arguments_json)["subscription"]["topic"]);
  }
  EXPECT_THAT(folder_topics, ::testing::ElementsAre("policy:billing", "policy:rbac"));

  // The delta from the first hash, as the client asks it next.
  auto delta = call(port(), "GET", "/policy?path=.&base_hash=" + first, client_).json();
  EXPECT_EQ(delta["old_hash"], first);
  EXPECT_EQ(delta["deleted_files"]["policy_modules"], json({"billing/billing.rego"}));

  // The data subscriber got nothing: its next frame is the answer to a ping.
  auto id = data.call("_ping_", "{}");
  EXPECT_EQ(data.expect_response(id).result_json, R"("pong")");
}

TEST_F(policy_api, a_broken_file_shows_in_metrics_and_the_last_good_bundle_is_served) {
  auto metrics = [&] { return call(port(), "GET", "/metrics").body; };
  EXPECT_THAT(metrics(), ::testing::HasSubstr("\npdl_server_policy_dir_ok 1\n"));
  EXPECT_THAT(metrics(), ::testing::HasSubstr("\npdl_server_policy_files 3\n"));
  const std::string good = call(port(), "GET", "/policy", client_).body;
  write(dir_, "rbac/data.json", "{\"roles\": ");
  ASSERT_TRUE(test::poll_until(
      [&] { return metrics().find("\npdl_server_policy_dir_ok 0\n") != std::string::npos; }));
  EXPECT_EQ(call(port(), "GET", "/policy", client_).body, good);
}

TEST(policy_api_defaults, without_a_directory_the_answer_is_an_empty_delta) {
  static pem_pair keys = make_pem_pair();
  auto srv = server::start(test_config(keys));
  auto b = call(srv->port(), "GET", "/policy?path=.", mint(srv->port(), "client"));
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.json()["old_hash"], b.json()["hash"]);
  EXPECT_EQ(b.json()["manifest"], json::array());
}

}  // namespace
}  // namespace pdl::server
