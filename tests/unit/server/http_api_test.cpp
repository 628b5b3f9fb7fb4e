#include "server/server.hpp"

#include <regex>

#include <gtest/gtest.h>

#include "tests/unit/server/test_server.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using nlohmann::json;

class http_api : public server_suite {
 protected:
  std::string datasource() { return *datasource_; }

  /** The good update is still accepted: a refused request left nothing broken. */
  void expect_good_update_accepted() {
    auto r = call(port(), "POST", "/data/config", datasource(), good_update());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  void expect_refused(const reply& r, long status, const std::string& error_substring) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_NE(r.body.find(error_substring), std::string::npos) << r.body;
    expect_good_update_accepted();
  }

};

TEST_F(http_api, token_minting_answers_opal_access_token_shape) {
  json req = {{"id", "2d3039cc-92a3-4c34-a636-61b3a319b087"}, {"type", "datasource"},
              {"ttl", 31536000.0}, {"claims", json::object()}};
  auto r = call(port(), "POST", "/token", master_token, req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["type"], "bearer");
  EXPECT_EQ(j["details"]["id"], "2d3039cc-92a3-4c34-a636-61b3a319b087");
  EXPECT_EQ(j["details"]["type"], "datasource");
  EXPECT_TRUE(j["details"]["expired"].is_string());
  std::string token = j["token"];
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
  EXPECT_EQ(call(port(), "POST", "/data/config", token, good_update()).status, 200);
}

TEST_F(http_api, wrong_master_token_is_refused_without_echo) {
  auto r = call(port(), "POST", "/token", "nope-not-the-master", R"({"type":"client"})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json(), json::parse(R"({"detail":{"error":"unauthorized to access this endpoint!"}})"));
  EXPECT_EQ(r.body.find("nope-not-the-master"), std::string::npos);
  EXPECT_EQ(r.raw.header("www-authenticate").value_or(""), "Bearer");
  EXPECT_EQ(call(port(), "POST", "/token", "", R"({"type":"client"})").status, 401);
}

TEST_F(http_api, bad_token_request_is_422) {
  auto r = call(port(), "POST", "/token", master_token, R"({"type":"admin"})");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["detail"][0]["loc"][0], "body");
}

TEST_F(http_api, datasource_update_is_accepted_with_id_and_increasing_seq) {
  auto a = call(port(), "POST", "/data/config", datasource(), good_update());
  auto b = call(port(), "POST", "/data/config", datasource(), good_update());
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(a.json()["status"], "ok");
  EXPECT_TRUE(std::regex_match(a.json()["id"].get<std::string>(), std::regex("[0-9a-f]{32}")));
  EXPECT_GT(b.json()["seq"].get<std::uint64_t>(), a.json()["seq"].get<std::uint64_t>());
  EXPECT_GE(a.json()["seq"].get<std::uint64_t>(), 1u);
  // A given id is kept.
  json u = json::parse(good_update());
  u["id"] = "my-update-1";
  auto c = call(port(), "POST", "/data/config", datasource(), u.dump());
  EXPECT_EQ(c.json()["id"], "my-update-1");
  EXPECT_EQ(s_->ctx().updates->head(), c.json()["seq"].get<std::uint64_t>());
}

TEST_F(http_api, malformed_json_is_400_with_the_error_shape) {
  auto r = call(port(), "POST", "/data/config", datasource(), R"({"entries": [)");
  EXPECT_EQ(r.status, 400) << r.body;
  json j = r.json();
  EXPECT_EQ(j["detail"][0]["loc"], json::array({"body"}));
  EXPECT_EQ(j["detail"][0]["type"], "value_error");
  EXPECT_NE(j["error"].get<std::string>().find("malformed JSON"), std::string::npos);
  expect_good_update_accepted();
}

TEST_F(http_api, wrong_types_are_422_naming_the_field) {
  auto r = call(port(), "POST", "/data/config", datasource(), R"({"entries": "users"})");
  EXPECT_EQ(r.status, 422) << r.body;
  json j = r.json();
  EXPECT_EQ(j["detail"][0]["loc"], json::array({"body", "entries"}));
  EXPECT_EQ(j["error"].get<std::string>().rfind("entries: ", 0), 0u) << j["error"];
  expect_good_update_accepted();
}

TEST_F(http_api, unknown_save_method_is_422) {
  json u = json::parse(good_update());
  u["entries"][0]["save_method"] = "POST";
  auto r = call(port(), "POST", "/data/config", datasource(), u.dump());
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["detail"][0]["loc"], json::array({"body", "entries", 0, "save_method"}));
  expect_good_update_accepted();
}

TEST_F(http_api, an_echoed_value_is_cut_on_a_character_boundary) {
  // The message quotes the first 64 bytes of the value: byte 64 falls inside an "e" with an
  // accent. A byte cut made the 422's JSON unrenderable.
  std::string method = "a";
  for (int i = 0; i < 40; ++i) {
    method += "\xC3\xA9";
  }
  json u = json::parse(good_update());
  u["entries"][0]["save_method"] = method;
  auto r = call(port(), "POST", "/data/config", datasource(), u.dump());
  EXPECT_EQ(r.status, 422) << r.body;
  std::string error = r.json()["error"];
  EXPECT_NE(error.find("unknown save_method 'a\xC3\xA9"), std::string::npos) << error;
  EXPECT_NE(error.find("\xC3\xA9...'"), std::string::npos) << error;
  expect_good_update_accepted();
}

TEST_F(http_api, patch_data_not_a_list_is_422) {
  json u = json::parse(good_update());
  u["entries"][0]["save_method"] = "PATCH";
  u["entries"][0]["data"] = {{"op", "add"}};
  auto r = call(port(), "POST", "/data/config", datasource(), u.dump());
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["detail"][0]["loc"][2], 0);
  expect_good_update_accepted();
}

TEST_F(http_api, patch_move_op_is_422) {
  json u = json::parse(good_update());
  u["entries"][0]["save_method"] = "PATCH";
  u["entries"][0]["data"] = json::parse(R"([{"op":"move","from":"/a","path":"/b"}])");
  auto r = call(port(), "POST", "/data/config", datasource(), u.dump());
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.json()["error"].get<std::string>().find("move"), std::string::npos) << r.body;
  expect_good_update_accepted();
}

TEST_F(http_api, no_entries_is_422) {
  expect_refused(call(port(), "POST", "/data/config", datasource(), R"({"entries":[]})"), 422,
                 "entries");
}

TEST_F(http_api, oversized_body_is_413) {
  std::string big(1024 * 1024 + 10, 'x');
  auto r = call(port(), "POST", "/data/config", datasource(),
                good_update({"policy_data"}, "\"" + big + "\""));
  expect_refused(r, 413, "larger than");
}

TEST_F(http_api, client_token_may_not_publish) {
  auto r = call(port(), "POST", "/data/config", mint(port(), "client"), good_update());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json()["detail"]["error"],
            "Incorrect 'peer_type' claim for OPAL jwt token: client, expected: datasource");
  expect_good_update_accepted();
}

TEST_F(http_api, permitted_topics_are_enforced_hierarchically) {
  std::string tok = mint(port(), "datasource", {{"permitted_topics", {"billing"}}});
  EXPECT_EQ(call(port(), "POST", "/data/config", tok, good_update({"billing/eu"})).status, 200);
  EXPECT_EQ(call(port(), "POST", "/data/config", tok, good_update({"billing"})).status, 200);
  auto r = call(port(), "POST", "/data/config", tok, good_update({"billing", "users"}));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.json()["detail"]["error"].get<std::string>().find("'users'"), std::string::npos);
  expect_refused(call(port(), "POST", "/data/config", tok, good_update({"billingx"})), 403,
                 "billingx");
}

TEST_F(http_api, missing_token_is_401_with_www_authenticate) {
  auto r = call(port(), "POST", "/data/config", "", good_update());
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json()["detail"]["error"], "access token was not provided");
  EXPECT_EQ(r.raw.header("www-authenticate").value_or(""), "Bearer");
  expect_good_update_accepted();
}

TEST_F(http_api, expired_token_is_401) {
  std::string tok = s_->ctx().auth->signer().sign(standard_claims(std::chrono::seconds(-60)));
  expect_refused(call(port(), "POST", "/data/config", tok, good_update()), 401, "invalid");
}

TEST_F(http_api, token_signed_by_another_key_is_401) {
  auth::jwt_signer other(auth::rsa_key::generate(), std::string(auth::default_issuer),
                         std::string(auth::default_audience));
  std::string tok = other.sign(standard_claims(std::chrono::seconds(600)));
  expect_refused(call(port(), "POST", "/data/config", tok, good_update()), 401, "invalid");
}

TEST_F(http_api, alg_none_token_is_401) {
  std::string tok = none_token(standard_claims(std::chrono::seconds(600)));
  expect_refused(call(port(), "POST", "/data/config", tok, good_update()), 401, "invalid");
}

TEST_F(http_api, hs256_signed_with_the_public_key_is_401) {
  std::string tok = hs256_token(standard_claims(std::chrono::seconds(600)), s_->keys.public_pem);
  expect_refused(call(port(), "POST", "/data/config", tok, good_update()), 401, "invalid");
}

TEST_F(http_api, a_hand_made_rs256_token_with_our_key_is_accepted) {
  // Control for the refusals above: the same claims, properly signed, pass.
  std::string tok = s_->ctx().auth->signer().sign(standard_claims(std::chrono::seconds(600)));
  EXPECT_EQ(call(port(), "POST", "/data/config", tok, good_update()).status, 200);
}

TEST_F(http_api, health_routes) {
  for (const char* path : {"/", "/healthcheck", "/healthy", "/ready"}) {
    auto r = call(port(), "GET", path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.json(), json::parse(R"({"status":"ok"})")) << path;
  }
}

TEST_F(http_api, jwks_holds_our_public_key) {
  auto r = call(port(), "GET", "/.well-known/jwks.json");
  ASSERT_EQ(r.status, 200);
  json k = r.json()["keys"];
  ASSERT_EQ(k.size(), 1u);
  EXPECT_EQ(k[0]["kty"], "RSA");
  EXPECT_EQ(k[0]["kid"], s_->ctx().auth->signer().key().kid());
}

TEST_F(http_api, base_data_config_needs_a_token) {
  EXPECT_EQ(call(port(), "GET", "/data/config").status, 401);
  auto r = call(port(), "GET", "/data/config", mint(port(), "client"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json(), json::parse(R"({"entries":[{"url":"","config":null,"topics":["policy_data"],
      "dst_path":"/pdl/base","save_method":"PUT","data":{"loaded":true},
      "periodic_update_interval":null}]})"));
}

TEST_F(http_api, policy_data_placeholder_and_callback_report) {
  auto p = call(port(), "GET", "/policy-data");
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "{}");
  std::string report = R"({"update_id":"abc","reports":[{"entry":{"config":{"headers":{"a":"s3cr3t"}}},"fetched":true,"saved":false}]})";
  EXPECT_EQ(call(port(), "POST", "/data/callback_report", "", report).status, 401);
  auto r = call(port(), "POST", "/data/callback_report", mint(port(), "client"), report);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
}

TEST_F(http_api, unknown_route_404_and_wrong_method_405) {
  auto r = call(port(), "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.json(), json::parse(R"({"detail":"Not Found"})"));
  auto m = call(port(), "GET", "/token");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.raw.header("allow").value_or(""), "POST");
}

}  // namespace
}  // namespace pdl::server
