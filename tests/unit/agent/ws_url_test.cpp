#include "agent/ws_url.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/config/config_error.hpp"

namespace pdl::agent {
namespace {

TEST(ws_url, http_url_becomes_ws_with_ws_path) {
  const auto ep = derive_ws_endpoint("http://opal-server:7002");
  EXPECT_EQ(ep.host, "opal-server");
  EXPECT_EQ(ep.port, 7002);
  EXPECT_EQ(ep.target, "/ws");
  EXPECT_EQ(ep.url(), "ws://opal-server:7002/ws");
}

TEST(ws_url, host_containing_http_is_not_mangled) {
  EXPECT_EQ(derive_ws_endpoint("http://httpbin-opal:80/").url(), "ws://httpbin-opal:80/ws");
}

TEST(ws_url, default_port_and_prefix) {
  const auto ep = derive_ws_endpoint("HTTP://Example.org/opal/");
  EXPECT_EQ(ep.port, 80);
  EXPECT_EQ(ep.target, "/opal/ws");
}

TEST(ws_url, ipv6_literal) {
  const auto ep = derive_ws_endpoint("http://[::1]:7002");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.host_header, "[::1]:7002");
}

TEST(ws_url, https_means_wss_on_port_443_by_default) {
  auto ep = derive_ws_endpoint("https://opal.example.com/prefix/");
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.port, 443);
  EXPECT_EQ(ep.url(), "wss://opal.example.com:443/prefix/ws");
  auto explicit_port = derive_ws_endpoint("wss://127.0.0.1:7443");
  EXPECT_TRUE(explicit_port.tls);
  EXPECT_EQ(explicit_port.port, 7443);
  EXPECT_FALSE(derive_ws_endpoint("http://x").tls);
}

TEST(ws_url, server_http_base_maps_ws_to_http_and_drops_trailing_slashes) {
  EXPECT_EQ(server_http_base("http://opal-server:7002"), "http://opal-server:7002");
  EXPECT_EQ(server_http_base("HTTP://Opal-Server:7002/"), "http://opal-server:7002");
  EXPECT_EQ(server_http_base("https://opal.example.com/prefix//"),
            "https://opal.example.com/prefix");
  EXPECT_EQ(server_http_base("https://opal.example.com:443/"), "https://opal.example.com");
  EXPECT_EQ(server_http_base("ws://10.0.0.5:7002/x/"), "http://10.0.0.5:7002/x");
  EXPECT_EQ(server_http_base("wss://opal.example.com"), "https://opal.example.com");
  EXPECT_EQ(server_http_base("wss://opal.example.com:80"), "https://opal.example.com:80");
  EXPECT_EQ(server_http_base("http://[::1]:7002/"), "http://[::1]:7002");
  EXPECT_EQ(server_http_base("http://[::1]/"), "http://[::1]");
  EXPECT_THROW(server_http_base("ftp://x"), config::config_error);
  EXPECT_THROW(server_http_base("http://user:pw@x"), config::config_error);
}

TEST(ws_url, bad_urls_are_refused) {
  EXPECT_THROW(derive_ws_endpoint("opal-server:7002"), config::config_error);
  EXPECT_THROW(derive_ws_endpoint("ftp://x"), config::config_error);
  EXPECT_THROW(derive_ws_endpoint("http://x:99999"), config::config_error);
  EXPECT_THROW(derive_ws_endpoint("http://x:7002?token=1"), config::config_error);
  EXPECT_THROW(derive_ws_endpoint("http://user:pw@x"), config::config_error);
  EXPECT_THROW(derive_ws_endpoint("http://:80"), config::config_error);
}

TEST(ws_url, scheme_and_host_any_case) {
  const auto ep = derive_ws_endpoint("HTTPS://Opal.Example.COM:8443");
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.host, "opal.example.com");
  EXPECT_EQ(ep.url(), "wss://opal.example.com:8443/ws");
}

TEST(ws_url, refusals_are_precise_and_never_quote_credentials) {
  auto problem = [](std::string_view url) {
    try {
      (void)derive_ws_endpoint(url);
    } catch (const config::config_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(problem("http://[::1:7002"), ::testing::HasSubstr("no closing ']'"));
  EXPECT_THAT(problem("http://x:0"), ::testing::HasSubstr("port is not a number from 1 to 65535"));
  EXPECT_THAT(problem("http://user:s3cret@x"), ::testing::HasSubstr("must not carry credentials"));
  EXPECT_THAT(problem("http://user:s3cret/x@h"), ::testing::Not(::testing::HasSubstr("s3cret")));
  EXPECT_THAT(problem("redis://x"), ::testing::HasSubstr("unsupported scheme 'redis'"));
}

TEST(ws_url, default_data_config_url) {
  EXPECT_EQ(default_data_config_url("http://s:7002/"), "http://s:7002/data/config");
  EXPECT_EQ(default_data_config_url("http://s:7002/p"), "http://s:7002/p/data/config");
}

}  // namespace
}  // namespace pdl::agent
