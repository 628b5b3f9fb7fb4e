#include "tests/fakes/data_source/fake_data_source.hpp"

// The run-time controls added for periodic refresh and external-source tests, driven through
// handle() directly (no sockets): /_source/route, /_source/require and /_source/log.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pdl::fakes {
namespace {

using nlohmann::json;

http_request request(std::string method, std::string target, std::string body = {},
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
  http_request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(data_source_controls, route_replaces_or_adds_a_body) {
  source_options o;
  o.routes["/users"] = R"({"v":1})";
  fake_data_source s(o);
  EXPECT_EQ(s.handle(request("GET", "/users")).body, R"({"v":1})");
  auto r = s.handle(request("PUT", "/_source/route?path=%2Fusers", R"({"v":2})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), (json{{"path", "/users"}, {"bytes", 7}}));
  EXPECT_EQ(s.handle(request("GET", "/users")).body, R"({"v":2})");
  ASSERT_EQ(s.handle(request("PUT", "/_source/route?path=/new", "[1]")).status, 200);
  EXPECT_EQ(s.handle(request("GET", "/new")).body, "[1]");
}

TEST(data_source_controls, route_refuses_bad_requests_precisely) {
  fake_data_source s(source_options{});
  EXPECT_EQ(s.handle(request("GET", "/_source/route?path=/x")).status, 405);
  auto no_path = s.handle(request("PUT", "/_source/route", "{}"));
  EXPECT_EQ(no_path.status, 400);
  EXPECT_NE(no_path.body.find("path"), std::string::npos);
  EXPECT_EQ(s.handle(request("PUT", "/_source/route?path=x", "{}")).status, 400);
  EXPECT_EQ(s.handle(request("PUT", "/_source/route?path=/_source/log", "{}")).status, 400);
  auto bad_json = s.handle(request("PUT", "/_source/route?path=/x", "{nope"));
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_NE(bad_json.body.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(s.handle(request("GET", "/x")).status, 404);  // nothing was added
}

TEST(data_source_controls, require_sets_and_lifts_the_header_without_echoing_it) {
  source_options o;
  o.routes["/cfg"] = "{}";
  fake_data_source s(o);
  EXPECT_EQ(s.handle(request("GET", "/cfg")).status, 200);
  auto set = s.handle(request("PUT", "/_source/require", "Authorization: Bearer tok-secret\n"));
  ASSERT_EQ(set.status, 200);
  EXPECT_EQ(set.body.find("tok-secret"), std::string::npos);
  EXPECT_EQ(s.handle(request("GET", "/cfg")).status, 401);
  EXPECT_EQ(s.handle(request("GET", "/cfg", {}, {{"authorization", "bearer tok-secret"}})).status,
            200);
  auto bad = s.handle(request("PUT", "/_source/require", "no colon tok-secret"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body.find("tok-secret"), std::string::npos);
  ASSERT_EQ(s.handle(request("PUT", "/_source/require", "")).status, 200);
  EXPECT_EQ(s.handle(request("GET", "/cfg")).status, 200);
}

TEST(data_source_controls, log_lists_data_requests_with_their_raw_targets) {
  source_options o;
  o.routes["/cfg"] = "{}";
  fake_data_source s(o);
  s.handle(request("GET", "/cfg?tenant=a"));
  s.handle(request("PUT", "/_source/route?path=/cfg", "{}"));  // controls are not logged
  s.handle(request("POST", "/missing"));
  const auto log = json::parse(s.handle(request("GET", "/_source/log")).body);
  ASSERT_EQ(log["requests"].size(), 2u) << log.dump();
  EXPECT_EQ(log["requests"][0],
            (json{{"method", "GET"}, {"target", "/cfg?tenant=a"}, {"authorized", true}}));
  EXPECT_EQ(log["requests"][1]["target"], "/missing");
  for (std::size_t i = 0; i < fake_data_source::max_log_entries + 5; ++i) {
    s.handle(request("GET", "/cfg"));
  }
  const auto full = json::parse(s.handle(request("GET", "/_source/log")).body);
  EXPECT_EQ(full["requests"].size(), fake_data_source::max_log_entries);
}

}  // namespace
}  // namespace pdl::fakes
