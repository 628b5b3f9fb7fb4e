#include "agent/opa_store.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "agent/temp_file.hpp"
#include "tests/unit/agent/mini_http_server.hpp"
#include "tests/unit/shared/http/threaded_server.hpp"

namespace pdl::agent {
namespace {

using test::mini_http_server;

mini_http_server::response opa_like(const test::seen_request& r) {
  if (r.method == "GET" && r.target == "/health") {
    return mini_http_server::reply(http::status::ok, "{}");
  }
  if (r.target == "/v1/data" && r.method == "PUT" && !r.body.empty() && r.body[0] != '{') {
    return mini_http_server::reply(
        http::status::bad_request,
        "{\n  \"code\": \"invalid_parameter\",\n  \"message\": "
        "\"storage_invalid_patch_error: root must be object\"\n}\n");
  }
  if (r.target.rfind("/v1/data", 0) == 0) {
    return mini_http_server::reply(http::status::no_content, "", "");
  }
  return mini_http_server::reply(http::status::not_found, "404 page not found", "text/plain");
}

opa_store_options options_for(const mini_http_server& s, std::string token = {}) {
  opa_store_options o;
  o.url = s.url("/");
  o.token = secret(std::move(token));
  o.timeout = std::chrono::milliseconds(5000);
  return o;
}

TEST(opa_store, put_sends_raw_text_with_json_content_type_and_token) {
  mini_http_server server(opa_like);
  opa_store store(options_for(server, "opa-token"));
  const std::string body = R"({"a":null,"b":[1,null]})";
  store.put("users/alice", store_body::from_text(body));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/v1/data/users/alice");
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer opa-token");
  EXPECT_EQ(reqs[0].body, body);
}

TEST(opa_store, no_authorization_without_a_token) {
  mini_http_server server(opa_like);
  opa_store store(options_for(server));
  store.put("/x", store_body::from_text("1"));
  EXPECT_FALSE(server.requests().at(0).has_header("authorization"));
}

TEST(opa_store, patch_uses_json_patch_content_type) {
  mini_http_server server(opa_like);
  opa_store store(options_for(server));
  const std::string ops = R"([{"op":"add","path":"/c","value":2}])";
  store.patch("/a", store_body::from_text(ops));
  const auto r = server.requests().at(0);
  EXPECT_EQ(r.method, "PATCH");
  EXPECT_EQ(r.target, "/v1/data/a");
  EXPECT_EQ(r.header("content-type"), "application/json-patch+json");
  EXPECT_EQ(r.body, ops);
}

TEST(opa_store, file_body_is_streamed) {
  mini_http_server server(opa_like);
  opa_store store(options_for(server));
  auto file = temp_file::create("", "opa-test");
  const std::string big = "[" + std::string(200000, '7') + "]";
  std::ofstream(file.path(), std::ios::binary) << big;
  store.put("/big", store_body::from_file(file.path(), big.size()));
  EXPECT_EQ(server.requests().at(0).body, big);
}

TEST(opa_store, root_path_and_encoding) {
  mini_http_server server(opa_like);
  opa_store store(options_for(server));
  store.put("", store_body::from_text("{}"));
  store.put("/a b/c", store_body::from_text("1"));
  const auto reqs = server.requests();
  EXPECT_EQ(reqs.at(0).target, "/v1/data");
  EXPECT_EQ(reqs.at(1).target, "/v1/data/a%20b/c");
}

TEST(opa_store, refusal_carries_status_and_engine_message) {
  mini_http_server server(opa_like);
  opa_store store(options_for(server));
  try {
    store.put("", store_body::from_text("[1]"));
    FAIL() << "no error";
  } catch (const store_error& e) {
    EXPECT_EQ(e.http_status(), 400);
    const std::string what = e.what();
    EXPECT_NE(what.find("400"), std::string::npos);
    EXPECT_NE(what.find("root must be object"), std::string::npos);
    EXPECT_NE(what.find("invalid_parameter"), std::string::npos);
  }
}

TEST(opa_store, an_excerpt_of_a_non_json_refusal_is_valid_utf8) {
  // 199 bytes, then a euro sign across the 200-byte excerpt bound, and an ill-formed byte.
  std::string body = std::string(199, 'x') + "\xE2\x82\xAC";
  mini_http_server server([&](const test::seen_request&) {
    return mini_http_server::reply(http::status::bad_request, "\xFF" + body, "text/plain");
  });
  opa_store store(options_for(server));
  try {
    store.put("/x", store_body::from_text("1"));
    FAIL() << "no error";
  } catch (const store_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\xEF\xBF\xBD" + std::string(196, 'x')), std::string::npos) << what;
    EXPECT_EQ(what.find("\xE2"), std::string::npos) << what;
    EXPECT_NO_THROW((void)nlohmann::json(what).dump());
  }
}

TEST(opa_store, unexpected_success_status_is_an_error) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, "{}");
  });
  opa_store store(options_for(server));
  EXPECT_THROW(store.put("/x", store_body::from_text("1")), store_error);
}

TEST(opa_store, health) {
  mini_http_server up(opa_like);
  EXPECT_TRUE(opa_store(options_for(up)).health());
  mini_http_server failing([](const test::seen_request&) {
    return mini_http_server::reply(http::status::internal_server_error, "{}");
  });
  EXPECT_FALSE(opa_store(options_for(failing)).health());
  opa_store_options unreachable;
  unreachable.url = "http://127.0.0.1:1";
  unreachable.health_timeout = std::chrono::milliseconds(500);
  EXPECT_FALSE(opa_store(unreachable).health());
}

TEST(opa_store, unreachable_engine_is_a_store_error) {
  opa_store_options o;
  o.url = "http://127.0.0.1:1";
  o.timeout = std::chrono::milliseconds(500);
  opa_store store(o);
  try {
    store.put("/x", store_body::from_text("1"));
    FAIL() << "no error";
  } catch (const store_error& e) {
    EXPECT_EQ(e.http_status(), 0);
  }
}

}  // namespace
}  // namespace pdl::agent

namespace pdl::agent {
namespace {

TEST(opa_store, writes_reuse_one_kept_alive_connection) {
  pdl::test::threaded_server engine([](int fd, const std::string& req) {
    pdl::test::threaded_server::write_all(
        fd, req.rfind("GET /health", 0) == 0 ? pdl::test::threaded_server::response(200, "{}")
                                             : pdl::test::threaded_server::response(204, ""));
    return true;
  });
  opa_store_options o;
  o.url = engine.url("");
  while (!o.url.empty() && o.url.back() == '/') {
    o.url.pop_back();
  }
  opa_store store(o);
  EXPECT_TRUE(store.health());
  for (int i = 0; i < 5; ++i) {
    store.put("/a/" + std::to_string(i), store_body::from_text("{}"));
  }
  store.patch("/a", store_body::from_text("[]"));
  EXPECT_EQ(engine.requests(), 7);
  EXPECT_EQ(engine.accepted(), 1);
}

}  // namespace
}  // namespace pdl::agent
