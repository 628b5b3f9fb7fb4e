#include "shared/http/url.hpp"

#include <gtest/gtest.h>

namespace pdl::http_client {
namespace {

url_parts parsed(const std::string& url) {
  std::string why;
  auto u = parse_url(url, why);
  EXPECT_TRUE(u.has_value()) << url << ": " << why;
  return u.value_or(url_parts{});
}

std::string refused(const std::string& url) {
  std::string why;
  EXPECT_FALSE(parse_url(url, why).has_value()) << url;
  return why;
}

TEST(url, default_ports_paths_and_queries) {
  auto u = parsed("http://example.com");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, "80");
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.host_header(), "example.com");
  u = parsed("HTTPS://example.com:8443/a/b?x=1#frag");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, "8443");
  EXPECT_EQ(u.target, "/a/b?x=1");
  EXPECT_EQ(u.host_header(), "example.com:8443");
  EXPECT_EQ(parsed("http://h?q=1").target, "/?q=1");
  EXPECT_EQ(parsed("https://h:443/").host_header(), "h");
}

TEST(url, ipv6_literals_and_userinfo) {
  auto u = parsed("http://user:p%40ss@[::1]:8181/v1/data");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "8181");
  EXPECT_EQ(u.userinfo, "user:p%40ss");
  EXPECT_EQ(u.host_header(), "[::1]:8181");
  EXPECT_EQ(percent_decode(u.userinfo), "user:p@ss");
  EXPECT_EQ(parsed("http://[fe80::1]/").port, "80");
}

TEST(url, refusals_say_why_without_quoting_the_url) {
  EXPECT_EQ(refused("ftp://h/x"), "only http:// and https:// URLs are supported");
  EXPECT_EQ(refused("http:///path"), "the URL has no host");
  EXPECT_EQ(refused("http://h:0/"), "the URL's port is not a number from 1 to 65535");
  EXPECT_EQ(refused("http://h:99999/"), "the URL's port is not a number from 1 to 65535");
  EXPECT_EQ(refused("http://h:8x/"), "the URL's port is not a number from 1 to 65535");
  EXPECT_EQ(refused("http://[::1/"), "unterminated IPv6 address in the URL");
  EXPECT_EQ(refused("http://h/a b"), "the URL contains white space");
}

TEST(url, is_http_url_ignores_the_scheme_case) {
  EXPECT_TRUE(is_http_url("http://h/x"));
  EXPECT_TRUE(is_http_url("HTTPS://h/x"));
  EXPECT_TRUE(is_http_url("Http://h"));
  EXPECT_FALSE(is_http_url("ftp://h/x"));
  EXPECT_FALSE(is_http_url("http:/h"));
  EXPECT_FALSE(is_http_url(""));
}

TEST(url, redirect_locations_resolve_against_the_request) {
  auto base = parsed("https://h:8443/dir/page?x=1");
  EXPECT_EQ(resolve_location(base, "http://other/x"), "http://other/x");
  EXPECT_EQ(resolve_location(base, "//cdn/x"), "https://cdn/x");
  EXPECT_EQ(resolve_location(base, "/root"), "https://h:8443/root");
  EXPECT_EQ(resolve_location(base, "next"), "https://h:8443/dir/next");
  EXPECT_EQ(resolve_location(base, "?y=2"), "https://h:8443/dir/page?y=2");
}

TEST(url, percent_decoding_keeps_invalid_escapes) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
}

}  // namespace
}  // namespace pdl::http_client
