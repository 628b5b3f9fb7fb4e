#include "agent/update_reporter.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/base_config.hpp"
#include "shared/net.hpp"
#include "tests/unit/agent/loop.hpp"
#include "tests/unit/agent/mini_http_server.hpp"

namespace pdl::agent {
namespace {

using test::mini_http_server;
using test::run_until;

entry_report fetched_report() {
  entry_report r;
  r.entry.url = "https://src.example/users?token=abc";
  r.entry.config_json = R"({"headers":{"Authorization":"Bearer src-secret"},"method":"get"})";
  r.entry.dst_path = "/users";
  r.fetched = true;
  r.saved = true;
  r.hash = "ab12";
  return r;
}

TEST(update_reporter, report_has_opal_shape_and_no_header_values) {
  entry_report failed;
  failed.entry.dst_path = "/x";
  failed.entry.data_json = "[1]";
  const auto text = update_reporter::report_json("u1", {fetched_report(), failed});
  EXPECT_EQ(text.find("src-secret"), std::string::npos);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["update_id"], "u1");
  EXPECT_TRUE(j["policy_hash"].is_null());
  EXPECT_EQ(j["user_data"], nlohmann::json::object());
  ASSERT_EQ(j["reports"].size(), 2u);
  const auto& r0 = j["reports"][0];
  EXPECT_EQ(r0["fetched"], true);
  EXPECT_EQ(r0["saved"], true);
  EXPECT_EQ(r0["hash"], "ab12");
  EXPECT_EQ(r0["entry"]["dst_path"], "/users");
  EXPECT_EQ(r0["entry"]["config"]["headers"]["Authorization"], "<redacted>");
  EXPECT_EQ(r0["entry"]["config"]["method"], "get");
  const auto& r1 = j["reports"][1];
  EXPECT_EQ(r1["fetched"], false);
  EXPECT_EQ(r1["saved"], false);
  EXPECT_TRUE(r1["hash"].is_null());
  EXPECT_EQ(r1["entry"]["data"], nlohmann::json::array({1}));
}

TEST(update_reporter, posts_with_the_client_token_only_to_the_server) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"status":"ok"})");
  });
  mini_http_server third_party([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, "{}");
  });
  net::io_context ioc;
  net::thread_pool pool(2);
  reporter_options o;
  o.default_callbacks = {server.url("/data/callback_report")};
  o.token = secret("client-token");
  o.token_origins = {url_origin(server.url())};
  update_reporter reporter(ioc, pool, o);
  const std::string callbacks =
      R"({"callbacks":[")" + third_party.url("/hook") + R"(",[")" +
      third_party.url("/with-headers") + R"(",{"headers":{"X-Key":"k1"},"method":"put"}]]})";
  reporter.report("u1", callbacks, {fetched_report()});
  ASSERT_TRUE(run_until(ioc, [&] { return reporter.sent() == 3; }));

  const auto at_server = server.requests();
  ASSERT_EQ(at_server.size(), 1u);
  EXPECT_EQ(at_server[0].method, "POST");
  EXPECT_EQ(at_server[0].target, "/data/callback_report");
  EXPECT_EQ(at_server[0].header("authorization"), "Bearer client-token");
  EXPECT_EQ(at_server[0].header("content-type"), "application/json");
  const auto body = nlohmann::json::parse(at_server[0].body);
  EXPECT_EQ(body["update_id"], "u1");
  EXPECT_EQ(body["reports"][0]["hash"], "ab12");

  const auto at_third = third_party.requests();
  ASSERT_EQ(at_third.size(), 2u);
  for (const auto& r : at_third) {
    EXPECT_FALSE(r.has_header("authorization")) << r.target;
    EXPECT_EQ(r.body, at_server[0].body);
  }
  const auto& with_headers = at_third[0].target == "/with-headers" ? at_third[0] : at_third[1];
  EXPECT_EQ(with_headers.method, "PUT");
  EXPECT_EQ(with_headers.header("x-key"), "k1");
  pool.join();
}

TEST(update_reporter, a_failing_callback_does_not_stop_the_next_reports) {
  int calls = 0;
  mini_http_server server([&](const test::seen_request&) {
    return mini_http_server::reply(++calls == 1 ? http::status::unauthorized : http::status::ok,
                                   "{}");
  });
  net::io_context ioc;
  net::thread_pool pool(2);
  reporter_options o;
  o.default_callbacks = {server.url("/data/callback_report")};
  update_reporter reporter(ioc, pool, o);
  reporter.report("u1", R"({"callbacks":[]})", {});
  reporter.report("u2", R"({"callbacks":[]})", {});
  ASSERT_TRUE(run_until(ioc, [&] { return server.requests().size() == 2 && reporter.queued() == 0 &&
                                          reporter.sent() == 1; }));
  pool.join();
}

TEST(update_reporter, the_queue_is_bounded) {
  net::io_context ioc;
  net::thread_pool pool(1);
  std::atomic<int> sent{0};
  reporter_options o;
  o.default_callbacks = {"http://127.0.0.1:1/cb"};
  o.max_queue = 2;
  update_reporter reporter(ioc, pool, o, [&](const http_client::request&, std::string&) {
    ++sent;
    return 200L;
  });
  for (int i = 0; i < 5; ++i) {  // nothing runs until the loop does: the queue fills up
    reporter.report("u" + std::to_string(i), R"({"callbacks":[]})", {});
  }
  EXPECT_LE(reporter.queued(), 2u);
  ASSERT_TRUE(run_until(ioc, [&] { return reporter.queued() == 0 && reporter.sent() >= 2; }));
  EXPECT_LE(sent.load(), 3);  // the first may have been taken before the others were dropped
  pool.join();
}

}  // namespace
}  // namespace pdl::agent

namespace pdl::agent {
namespace {

TEST(update_reporter, callbacks_an_update_names_pass_the_source_rules) {
  mini_http_server server([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, R"({"status":"ok"})");
  });
  mini_http_server engine([](const test::seen_request&) {
    return mini_http_server::reply(http::status::ok, "{}");
  });
  net::io_context ioc;
  net::thread_pool pool(2);
  reporter_options o;
  o.default_callbacks = {server.url("/data/callback_report")};
  auto rules = std::make_shared<http_client::source_rules>(http_client::source_rules::with_defaults());
  // The agent denies its own engine's address; the server's port stays allowed.
  rules->deny_endpoint("127.0.0.1", engine.port(), "the policy store", false);
  o.rules = rules;
  update_reporter reporter(ioc, pool, o);
  const std::string callbacks = R"({"callbacks":[")" + engine.url("/v1/data/leak") +
                                R"(","http://169.254.169.254/latest/meta-data"]})";
  reporter.report("u1", callbacks, {fetched_report()});
  ASSERT_TRUE(run_until(ioc, [&] { return reporter.sent() + reporter.failed() == 3; }));
  EXPECT_EQ(reporter.sent(), 1u);
  EXPECT_EQ(server.requests().size(), 1u);  // the operator's own callback
  EXPECT_TRUE(engine.requests().empty());   // never reached
  pool.join();
}

}  // namespace
}  // namespace pdl::agent
