#include "agent/base_config.hpp"

#include <gtest/gtest.h>

#include "tests/unit/agent/mini_http_server.hpp"

namespace pdl::agent {
namespace {

using test::mini_http_server;

constexpr const char* config_body =
    R"({"entries":[{"url":"","config":null,"topics":["users"],"dst_path":"/static","save_method":"PUT","data":{"seed":{"bootstrapped":true}},"periodic_update_interval":null}]})";

TEST(base_config, sends_the_token_and_parses_entries) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, config_body);
  });
  base_config_request req;
  req.url = server.url("/data/config");
  req.token = secret("tok");
  const auto entries = load_base_config(req);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].dst_path, "/static");
  EXPECT_EQ(server.requests().at(0).header("authorization"), "Bearer tok");
}

TEST(base_config, redirect_to_another_host_does_not_carry_the_token) {
  mini_http_server external([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, config_body);
  });
  // 127.0.0.1 vs localhost: a different origin for the agent, the same machine for the test.
  const std::string location =
      "http://localhost:" + std::to_string(external.port()) + "/config?token=x";
  mini_http_server server([&](const test::seen_request&) {
    auto res = mini_http_server::reply(http::status::temporary_redirect, "", "");
    res.set(http::field::location, location);
    return res;
  });
  base_config_request req;
  req.url = server.url("/data/config");
  req.token = secret("tok");
  const auto entries = load_base_config(req);
  EXPECT_EQ(entries.size(), 1u);
  EXPECT_EQ(server.requests().at(0).header("authorization"), "Bearer tok");
  const auto ext = external.requests().at(0);
  EXPECT_FALSE(ext.has_header("authorization"));
  EXPECT_EQ(ext.target, "/config?token=x");
}

TEST(base_config, errors_name_the_status) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::unauthorized, "{}");
  });
  base_config_request req;
  req.url = server.url("/data/config");
  try {
    load_base_config(req);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("401"), std::string::npos);
  }
}

TEST(base_config, origins_and_locations) {
  EXPECT_EQ(url_origin("http://A:80/x"), url_origin("http://a/y"));
  EXPECT_NE(url_origin("http://a:8080/"), url_origin("http://a/"));
  EXPECT_EQ(resolve_location("http://h:1/data/config", "/x?y"), "http://h:1/x?y");
  EXPECT_EQ(resolve_location("http://h:1/data/config", "other"), "http://h:1/data/other");
  EXPECT_EQ(resolve_location("http://h:1/a", "http://z/b"), "http://z/b");
}

}  // namespace
}  // namespace pdl::agent
