#include "server/openapi.hpp"

#include <algorithm>
#include <cctype>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/routes.hpp"

namespace pdl::server {
namespace {

using nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

TEST(openapi, every_route_in_the_table_is_documented_with_its_method) {
  auto routes = route_table("/data/config");
  json doc = json::parse(build_openapi(routes));
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  for (const auto& r : routes) {
    ASSERT_TRUE(doc["paths"].contains(r.path)) << r.path;
    EXPECT_TRUE(doc["paths"][r.path].contains(lower(r.method))) << r.method << " " << r.path;
  }
}

TEST(openapi, the_data_path_routes_and_ws_are_in_the_table) {
  auto routes = route_table("/data/config");
  auto has = [&](std::string method, std::string path) {
    return std::any_of(routes.begin(), routes.end(), [&](const route& r) {
      return r.method == method && r.path == path;
    });
  };
  for (auto [m, p] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/token"}, {"GET", "/.well-known/jwks.json"}, {"GET", "/data/config"},
           {"POST", "/data/config"}, {"GET", "/policy-data"}, {"POST", "/data/callback_report"},
           {"GET", "/"}, {"GET", "/healthcheck"}, {"GET", "/healthy"}, {"GET", "/ready"},
           {"GET", "/openapi.json"}, {"GET", "/ws"}}) {
    EXPECT_TRUE(has(m, p)) << m << " " << p;
  }
}

TEST(openapi, every_referenced_schema_exists) {
  json doc = json::parse(build_openapi(route_table("/data/config")));
  for (const char* name : {"DataUpdate", "DataSourceEntry", "DataSourceConfig",
                           "AccessTokenRequest", "AccessToken", "ErrorDetail",
                           "ValidationError"}) {
    EXPECT_TRUE(doc["components"]["schemas"].contains(name)) << name;
  }
  std::string text = doc.dump();
  const std::string prefix = "#/components/schemas/";
  for (auto pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, pos + 1)) {
    auto end = text.find('"', pos);
    std::string name = text.substr(pos + prefix.size(), end - pos - prefix.size());
    EXPECT_TRUE(doc["components"]["schemas"].contains(name)) << name;
  }
}

TEST(openapi, a_configured_data_route_replaces_the_default) {
  auto routes = route_table("/custom/data");
  json doc = json::parse(build_openapi(routes));
  EXPECT_TRUE(doc["paths"]["/custom/data"].contains("post"));
  EXPECT_FALSE(doc["paths"].contains("/data/config"));
}

}  // namespace
}  // namespace pdl::server
