#include "shared/auth/token_request.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "shared/model/errors.hpp"

namespace pdl::auth {
namespace {

using pdl::model::invalid_input;

const std::regex uuid4_re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

/** The path of the invalid_input thrown by parsing @p body ("<none>" when nothing is thrown). */
std::string error_path(std::string_view body) {
  try {
    parse_token_request(body);
  } catch (const invalid_input& e) {
    EXPECT_FALSE(e.message().empty());
    return e.path();
  }
  return "<none>";
}

std::int64_t ttl_of(const std::string& ttl_json) {
  return parse_token_request(R"({"ttl":)" + ttl_json + "}").ttl.count();
}

TEST(token_request, defaults) {
  const token_request r = parse_token_request("{}");
  EXPECT_EQ(r.type, peer_type::client);
  EXPECT_EQ(r.ttl, std::chrono::hours(24 * 365));
  EXPECT_TRUE(std::regex_match(r.id, uuid4_re)) << r.id;
  EXPECT_EQ(r.claims, nlohmann::json::object());
  EXPECT_NE(parse_token_request("{}").id, r.id);
}

TEST(token_request, opal_cli_body) {
  const token_request r = parse_token_request(
      R"({"id":"2d3039cc-92a3-4c34-a636-61b3a319b087","type":"datasource",)"
      R"("ttl":31536000.0,"claims":{}})");
  EXPECT_EQ(r.id, "2d3039cc-92a3-4c34-a636-61b3a319b087");
  EXPECT_EQ(r.type, peer_type::datasource);
  EXPECT_EQ(r.ttl.count(), 31536000);
  EXPECT_EQ(parse_token_request(R"({"id":"2D3039CC92A34C34A63661B3A319B087"})").id,
            "2d3039cc-92a3-4c34-a636-61b3a319b087");
  EXPECT_EQ(parse_token_request(R"({"type":"listener","id":null,"claims":null})").type,
            peer_type::listener);
}

TEST(token_request, ttl_forms) {
  EXPECT_EQ(ttl_of("3600"), 3600);
  EXPECT_EQ(ttl_of("3600.5"), 3600);
  EXPECT_EQ(ttl_of(R"("3600")"), 3600);
  EXPECT_EQ(ttl_of(R"("P30D")"), 30 * 86400);
  EXPECT_EQ(ttl_of(R"("PT1H")"), 3600);
  EXPECT_EQ(ttl_of(R"("PT1H30M")"), 5400);
  EXPECT_EQ(ttl_of(R"("P1DT2H3M4S")"), 93784);
  EXPECT_EQ(ttl_of(R"("PT0.5H")"), 1800);
  EXPECT_EQ(ttl_of(R"("1 02:03:04")"), 93784);
  EXPECT_EQ(ttl_of(R"("1 day, 02:03:04")"), 93784);
  EXPECT_EQ(ttl_of(R"("365 days, 0:00:00")"), 31536000);
  EXPECT_EQ(ttl_of(R"("02:03:04")"), 7384);
  EXPECT_EQ(ttl_of(R"("03:04")"), 184);
  EXPECT_EQ(ttl_of(R"("02:03:04.75")"), 7384);
}

TEST(token_request, bad_ttl_names_the_field) {
  for (const char* ttl :
       {"0", "0.5", "-5", R"("soon")", R"("P")", R"("-P1D")", R"("1:2:3:4")", "true", "[]", "{}",
        "315619201", R"("P9999D")", R"("99999999999999999999999999999999999999")"}) {
    EXPECT_EQ(error_path(std::string(R"({"ttl":)") + ttl + "}"), "ttl") << ttl;
  }
  EXPECT_EQ(ttl_of("315619200"), 315619200);  // 3653 days (ten years) is the limit
}

TEST(token_request, bad_fields_name_the_field) {
  EXPECT_EQ(error_path(R"({"type":"admin"})"), "type");
  EXPECT_EQ(error_path(R"({"type":"Client"})"), "type");
  EXPECT_EQ(error_path(R"({"type":1})"), "type");
  EXPECT_EQ(error_path(R"({"id":"bob"})"), "id");
  EXPECT_EQ(error_path(R"({"id":7})"), "id");
  EXPECT_EQ(error_path(R"({"claims":[]})"), "claims");
  EXPECT_EQ(error_path(R"({"scopes":[]})"), "scopes");
  EXPECT_EQ(error_path("not json"), "");
  EXPECT_EQ(error_path("[]"), "");
  EXPECT_EQ(error_path(std::string(70000, ' ') + "{}"), "");
  EXPECT_EQ(error_path(R"({"claims":{"x":)" + std::string(40, '[') + std::string(40, ']') + "}}"),
            "");
}

TEST(token_request, reserved_claims_cannot_be_overridden) {
  for (const char* name : {"iat", "exp", "nbf", "aud", "iss", "sub", "jti", "peer_type"}) {
    EXPECT_EQ(error_path(std::string(R"({"claims":{")") + name + R"(":1}})"),
              std::string("claims.") + name);
  }
}

TEST(token_request, permitted_topics_must_be_strings) {
  EXPECT_EQ(error_path(R"({"claims":{"permitted_topics":"users"}})"), "claims.permitted_topics");
  EXPECT_EQ(error_path(R"({"claims":{"permitted_topics":["users",2]}})"),
            "claims.permitted_topics[1]");
  const token_request r =
      parse_token_request(R"({"claims":{"permitted_topics":["users","policy:."],"team":"a"}})");
  EXPECT_EQ(r.claims.at("team"), "a");
}

std::string testdata(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "testdata" / name).string();
}

TEST(issue_token, answer_shape_and_claims) {
  const rsa_key key = rsa_key::load_private(secret(testdata("openssh_default")), key_format::ssh);
  const jwt_signer signer(key, std::string(default_issuer), std::string(default_audience));
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1795855847)) +
                   std::chrono::microseconds(991098);
  token_request req = parse_token_request(
      R"({"id":"2d3039cc-92a3-4c34-a636-61b3a319b087","type":"datasource","ttl":31536000.0,
          "claims":{"permitted_topics":["users"]}})");
  const nlohmann::json answer = issue_token(signer, req, now);

  EXPECT_EQ(answer.at("type"), "bearer");
  const auto& details = answer.at("details");
  EXPECT_EQ(details.at("id"), "2d3039cc-92a3-4c34-a636-61b3a319b087");
  EXPECT_EQ(details.at("type"), "datasource");
  EXPECT_EQ(details.at("expired"), "2027-11-28T08:50:47Z");  // the recorded OPAL exp, in UTC
  EXPECT_EQ(details.at("claims"),
            (nlohmann::json{{"peer_type", "datasource"}, {"permitted_topics", {"users"}}}));
  EXPECT_EQ(answer.size(), 3u);

  const jwt_verifier verifier({key}, std::string(default_issuer), std::string(default_audience),
                              [&] { return now; });
  auto r = verifier.verify(answer.at("token").get<std::string>());
  ASSERT_TRUE(std::holds_alternative<verified_token>(r)) << std::get<verify_error>(r).message;
  const auto& claims = std::get<verified_token>(r).claims;
  EXPECT_EQ(claims, (nlohmann::json{{"iat", 1795855847},
                                    {"exp", 1827391847},
                                    {"aud", default_audience},
                                    {"iss", default_issuer},
                                    {"sub", "2d3039cc92a34c34a63661b3a319b087"},
                                    {"peer_type", "datasource"},
                                    {"permitted_topics", {"users"}}}));
}

TEST(issue_token, refuses_reserved_claims_set_in_code) {
  const jwt_signer signer(rsa_key::generate(), "i", "a");
  token_request req;
  req.id = make_uuid4();
  req.claims = {{"exp", 1}};
  try {
    issue_token(signer, req, std::chrono::system_clock::now());
    FAIL() << "no invalid_input";
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.path(), "claims.exp");
  }
}

TEST(make_uuid4, format_and_uniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string u = make_uuid4();
    EXPECT_TRUE(std::regex_match(u, uuid4_re)) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 200u);
}

}  // namespace
}  // namespace pdl::auth
