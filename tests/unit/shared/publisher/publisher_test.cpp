#include "shared/publisher/publisher.hpp"

#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/shared/http/tiny_server.hpp"

namespace pdl::publisher {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pdl::test::tiny_server;

model::data_update billing_update() {
  model::data_update u;
  model::data_source_entry e;
  e.url = "http://127.0.0.1:8090/users";
  e.topics = {"users", "billing"};
  e.config_json = R"({"headers":{"authorization":"bearer source-secret"}})";
  u.entries.push_back(e);
  u.reason = "test";
  return u;
}

std::string body_of(const std::string& request) {
  return request.substr(request.find("\r\n\r\n") + 4);
}

options opts_for(const tiny_server& s, std::string token = "jwt-datasource-secret") {
  options o;
  o.server_url = s.url("/");  // trailing slash on purpose
  o.token = secret(std::move(token));
  return o;
}

TEST(Publisher, PublishesAndReadsIdAndSeq) {
  tiny_server server(tiny_server::replying(200, R"({"status":"ok","id":"u-1","seq":42})"));
  auto result = client(opts_for(server)).publish(billing_update());
  EXPECT_EQ(result.id, "u-1");
  EXPECT_EQ(result.seq, 42u);
  EXPECT_EQ(result.body["status"], "ok");

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_THAT(reqs[0], HasSubstr("POST /data/config HTTP/1.1\r\n"));
  EXPECT_THAT(reqs[0], HasSubstr("Authorization: Bearer jwt-datasource-secret\r\n"));
  EXPECT_THAT(reqs[0], HasSubstr("Content-Type: application/json\r\n"));
  auto sent = nlohmann::json::parse(body_of(reqs[0]));
  EXPECT_EQ(sent["entries"][0]["url"], "http://127.0.0.1:8090/users");
  EXPECT_EQ(sent["entries"][0]["topics"], nlohmann::json({"users", "billing"}));
  EXPECT_EQ(sent["reason"], "test");
}

TEST(Publisher, OpalStyleAnswerHasNoSeq) {
  tiny_server server(tiny_server::replying(200, R"({"status":"ok"})"));
  auto update = billing_update();
  update.id = "my-id";
  auto result = client(opts_for(server)).publish(update);
  EXPECT_EQ(result.id, "my-id");
  EXPECT_FALSE(result.seq);
}

TEST(Publisher, CustomRouteIsUsed) {
  tiny_server server(tiny_server::replying(200, R"({"status":"ok"})"));
  auto o = opts_for(server);
  o.route = "/custom/route";
  (void)client(o).publish(billing_update());
  EXPECT_THAT(server.requests().at(0), HasSubstr("POST /custom/route HTTP/1.1"));
}

TEST(Publisher, InvalidUpdateIsRefusedBeforeSending) {
  tiny_server server(tiny_server::replying(200, R"({"status":"ok"})"));
  model::data_update empty;
  EXPECT_THROW((void)client(opts_for(server)).publish(empty), model::invalid_input);
  EXPECT_TRUE(server.requests().empty());
}

TEST(Publisher, RefusalCarriesStatusAndReasonButNeverTheToken) {
  tiny_server server(tiny_server::replying(
      401, R"({"detail":{"error":"bad peer_type","token":"jwt-datasource-secret"}})"));
  try {
    (void)client(opts_for(server)).publish(billing_update());
    FAIL() << "expected publish_error";
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_THAT(e.what(), HasSubstr("HTTP 401"));
    EXPECT_THAT(e.what(), HasSubstr("bad peer_type"));
    EXPECT_THAT(e.what(), Not(HasSubstr("jwt-datasource-secret")));
  }
}

TEST(Publisher, EchoedTokenInsideAReasonIsRedacted) {
  tiny_server server(
      tiny_server::replying(403, R"({"detail":"token jwt-datasource-secret denied"})"));
  try {
    (void)client(opts_for(server)).publish(billing_update());
    FAIL();
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 403);
    EXPECT_THAT(e.what(), HasSubstr("token <redacted> denied"));
  }
}

TEST(Publisher, ReasonFromErrorBodiesAndPlainText) {
  struct tc {
    int status;
    std::string body;
    std::string reason;
  };
  for (const auto& c : std::vector<tc>{{500, R"({"error":"Uncaught server exception"})",
                                        "Uncaught server exception"},
                                       {422, R"({"detail":[{"loc":["body"],"msg":"bad"}]})",
                                        R"([{"loc":["body"],"msg":"bad"}])"},
                                       {503, "Service Unavailable\n", "Service Unavailable"}}) {
    tiny_server server(tiny_server::replying(c.status, c.body));
    try {
      (void)client(opts_for(server)).publish(billing_update());
      ADD_FAILURE() << "expected publish_error for " << c.status;
    } catch (const publish_error& e) {
      EXPECT_EQ(e.status(), c.status);
      EXPECT_THAT(e.what(), HasSubstr(c.reason));
    }
  }
}

TEST(Publisher, UnreachableServerIsStatusZero) {
  std::string url;
  {
    tiny_server gone(tiny_server::replying(200, ""));
    url = gone.url("");
  }
  options o;
  o.server_url = url;
  o.token = secret("jwt-datasource-secret");
  try {
    (void)client(o).publish(billing_update());
    FAIL();
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_THAT(e.what(), HasSubstr("cannot reach"));
    EXPECT_THAT(e.what(), Not(HasSubstr("jwt-datasource-secret")));
  }
}

TEST(Publisher, NonJsonSuccessIsAnError) {
  tiny_server server(tiny_server::replying(200, "<html>proxy</html>"));
  EXPECT_THROW((void)client(opts_for(server)).publish(billing_update()), publish_error);
}

TEST(Publisher, ObtainTokenSendsOpalsRequest) {
  tiny_server server(tiny_server::replying(
      200, R"({"token":"new.jwt.value","type":"bearer","details":{"type":"datasource"}})"));
  auto o = opts_for(server, "");
  auto answer = client(o).obtain_token(secret("master-secret"), "datasource", 3600,
                                       nlohmann::json{{"permitted_topics", {"users"}}});
  EXPECT_EQ(answer["token"], "new.jwt.value");
  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("POST /token HTTP/1.1"));
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer master-secret"));
  auto sent = nlohmann::json::parse(body_of(req));
  EXPECT_EQ(sent["type"], "datasource");
  EXPECT_EQ(sent["ttl"], 3600.0);
  EXPECT_EQ(sent["claims"]["permitted_topics"][0], "users");
  EXPECT_TRUE(std::regex_match(sent["id"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-"
                                          "[0-9a-f]{12}")));
}

TEST(Publisher, ObtainTokenWithoutTtlLetsTheServerChoose) {
  tiny_server server(tiny_server::replying(200, R"({"token":"t"})"));
  (void)client(opts_for(server, ""))
      .obtain_token(secret("m"), "client", 0, nlohmann::json::object());
  auto sent = nlohmann::json::parse(body_of(server.requests().at(0)));
  EXPECT_FALSE(sent.contains("ttl"));
}

TEST(Publisher, ObtainTokenRefusalNeverShowsTheMasterToken) {
  tiny_server server(tiny_server::replying(
      401,
      R"({"detail":{"error":"unauthorized to access this endpoint!","token":"master-secret"}})"));
  try {
    (void)client(opts_for(server, "")).obtain_token(secret("master-secret"), "client", 0, {});
    FAIL();
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_THAT(e.what(), HasSubstr("unauthorized to access this endpoint!"));
    EXPECT_THAT(e.what(), Not(HasSubstr("master-secret")));
  }
}

}  // namespace
}  // namespace pdl::publisher
