#include "agent/http_fetcher.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/mini_http_server.hpp"

namespace pdl::agent {
namespace {

using test::mini_http_server;

model::data_source_entry entry_for(const std::string& url,
                                   std::optional<std::string> config = std::nullopt) {
  model::data_source_entry e;
  e.url = url;
  e.config_json = std::move(config);
  e.dst_path = "/users";
  return e;
}

http_fetcher_options small_options() {
  http_fetcher_options o;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.idle_timeout = std::chrono::milliseconds(5000);
  return o;
}

TEST(http_fetcher, sends_the_configured_headers_and_spools_the_body) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"alice":{"roles":["admin"]}})");
  });
  http_fetcher f(small_options());
  auto body = test::fetch_sync(f, entry_for(server.url("/users?x=1"),
                                R"({"headers":{"Authorization":"Bearer s3cr3t","X-Tenant":"t1"}})"));
  EXPECT_EQ(body.root, model::json_type::object);
  EXPECT_EQ(test::read_all(body.file.path()), R"({"alice":{"roles":["admin"]}})");
  EXPECT_EQ(body.size, std::string(R"({"alice":{"roles":["admin"]}})").size());
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/users?x=1");
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer s3cr3t");
  EXPECT_EQ(reqs[0].header("x-tenant"), "t1");
}

TEST(http_fetcher, temp_file_is_removed_with_the_body) {
  mini_http_server server(
      [](const test::seen_request&) { return mini_http_server::reply(http::status::ok, "[1]"); });
  http_fetcher f(small_options());
  std::string path;
  {
    auto body = test::fetch_sync(f, entry_for(server.url()));
    path = body.file.path();
    EXPECT_EQ(body.root, model::json_type::array);
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(http_fetcher, status_401_is_a_permanent_error_without_secrets) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::unauthorized, R"({"detail":"token s3cr3t bad"})");
  });
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for(server.url("/users?token=s3cr3t"),
                      R"({"headers":{"Authorization":"Bearer s3cr3t"}})"));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_EQ(e.http_status(), 401);
    const std::string what = e.what();
    EXPECT_NE(what.find("401"), std::string::npos);
    EXPECT_EQ(what.find("s3cr3t"), std::string::npos);
  }
}

TEST(http_fetcher, status_503_is_a_transient_error) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::service_unavailable, "");
  });
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for(server.url()));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_FALSE(e.permanent());
    EXPECT_EQ(e.http_status(), 503);
  }
}

TEST(http_fetcher, invalid_json_names_the_byte_offset) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"a":1,,})");
  });
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for(server.url()));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_NE(std::string(e.what()).find("byte"), std::string::npos) << e.what();
  }
}

TEST(http_fetcher, truncated_json_is_an_error) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"a":[1,2)");
  });
  http_fetcher f(small_options());
  EXPECT_THROW(test::fetch_sync(f, entry_for(server.url())), fetch_error);
}

TEST(http_fetcher, size_limit_is_enforced) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, "[" + std::string(5000, '1') + "]");
  });
  auto o = small_options();
  o.max_bytes = 1000;
  http_fetcher f(o);
  try {
    test::fetch_sync(f, entry_for(server.url()));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }
}

TEST(http_fetcher, non_json_body_becomes_a_json_string) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, "he said \"hi\"\n\x01", "text/plain");
  });
  http_fetcher f(small_options());
  auto body = test::fetch_sync(f, entry_for(server.url(), R"({"is_json":false})"));
  EXPECT_EQ(body.root, model::json_type::string);
  EXPECT_EQ(test::read_all(body.file.path()), R"("he said \"hi\"\n\u0001")");
}

TEST(http_fetcher, method_and_body_from_the_config) {
  mini_http_server server([](const test::seen_request& r) {
    return mini_http_server::reply(http::status::ok, R"({"echo":)" + r.body + "}");
  });
  http_fetcher f(small_options());
  auto body = test::fetch_sync(f, entry_for(server.url(), R"({"method":"post","data":{"q":1}})"));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(test::read_all(body.file.path()), R"({"echo":{"q":1}})");
}

TEST(http_fetcher, bad_config_is_a_permanent_error) {
  http_fetcher f(small_options());
  try {
    test::fetch_sync(f, entry_for("http://127.0.0.1:1/", R"({"method":"fly"})"));
    FAIL() << "no error";
  } catch (const fetch_error& e) {
    EXPECT_TRUE(e.permanent());
    EXPECT_NE(std::string(e.what()).find("config.method"), std::string::npos);
  }
}

}  // namespace
}  // namespace pdl::agent

namespace pdl::agent {
namespace {

// Schemes are case-insensitive: the server accepts "HTTP://", so the agent fetches it too.
TEST(http_fetcher, an_upper_case_scheme_is_fetched) {
  mini_http_server server(
      [](const test::seen_request&) { return mini_http_server::reply(http::status::ok, "[1]"); });
  http_fetcher f(small_options());
  std::string url = server.url("/x");
  ASSERT_EQ(url.rfind("http://", 0), 0u);
  url.replace(0, 4, "HTTP");
  auto body = test::fetch_sync(f, entry_for(url));
  EXPECT_EQ(test::read_all(body.file.path()), "[1]");
  EXPECT_THROW(test::fetch_sync(f, entry_for("ftp://127.0.0.1/x")), fetch_error);
}

}  // namespace
}  // namespace pdl::agent
