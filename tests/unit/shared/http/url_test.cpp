#include "shared/http/url.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pdl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

parsed_url ok(std::string_view text, std::initializer_list<std::string_view> schemes = {"http",
                                                                                       "https"}) {
  std::string why;
  auto u = parsed_url::parse(text, schemes, why);
  EXPECT_TRUE(u.has_value()) << text << ": " << why;
  return u ? *u : parsed_url::parse_or_throw("http://invalid.test", {"http"});
}

std::string refused(std::string_view text,
                    std::initializer_list<std::string_view> schemes = {"http", "https"}) {
  std::string why;
  EXPECT_FALSE(parsed_url::parse(text, schemes, why).has_value()) << text;
  EXPECT_FALSE(why.empty()) << text;
  return why;
}

TEST(parsed_url, scheme_and_host_are_case_insensitive) {
  auto u = ok("HTTP://ExAmple.COM:8080/Path?Q=A#F");
  EXPECT_EQ(u.scheme(), "http");
  EXPECT_EQ(u.host(), "example.com");
  EXPECT_EQ(u.port(), 8080);
  EXPECT_EQ(u.path(), "/Path");  // the path keeps its case
  EXPECT_EQ(u.query(), "Q=A");
  EXPECT_EQ(u.fragment(), "F");
  EXPECT_EQ(u.target(), "/Path?Q=A");
  EXPECT_EQ(u.href(), "http://example.com:8080/Path?Q=A#F");
  EXPECT_EQ(ok("Https://H/").scheme(), "https");
  EXPECT_TRUE(ok("hTTpS://h").secure());
}

TEST(parsed_url, ipv6_literals) {
  auto u = ok("http://[::1]:8080/x");
  EXPECT_TRUE(u.ipv6());
  EXPECT_EQ(u.host(), "::1");
  EXPECT_EQ(u.port(), 8080);
  EXPECT_EQ(u.host_header(), "[::1]:8080");
  EXPECT_EQ(u.origin(), "http://[::1]:8080");
  EXPECT_EQ(ok("http://[FE80::AB]/").host(), "fe80::ab");
  EXPECT_EQ(ok("https://[::1]").host_header(), "[::1]");
  EXPECT_EQ(ok("http://[::ffff:1.2.3.4]/").host_port(), "[::ffff:1.2.3.4]:80");
  EXPECT_EQ(refused("http://[::1/"), "the IPv6 address has no closing ']'");
  EXPECT_EQ(refused("http://[::g]/"), "the IPv6 address is not valid");
  EXPECT_EQ(refused("http://[1:2:3:4:5:6:7:8:9]/"), "the IPv6 address is not valid");
  EXPECT_EQ(refused("http://[::1]x/"), "unexpected text after the IPv6 address (expected ':port')");
  EXPECT_EQ(refused("http://[fe80::1%25eth0]/"),
            "IPv6 zone ids ('%25' in the address) are not supported");
  EXPECT_EQ(refused("http://[fe80::1%eth0]/"),
            "IPv6 zone ids ('%25' in the address) are not supported");
}

TEST(parsed_url, userinfo_is_decoded_by_its_accessors) {
  auto u = ok("http://us%3Aer:p%40ss%3Aword@h/x");
  EXPECT_TRUE(u.has_userinfo());
  EXPECT_EQ(u.user(), "us:er");
  EXPECT_EQ(u.password(), "p@ss:word");
  EXPECT_EQ(u.raw_userinfo(), "us%3Aer:p%40ss%3Aword");
  EXPECT_EQ(u.href(), "http://us%3Aer:p%40ss%3Aword@h/x");
  // An unencoded '@' belongs to the password: the last '@' ends the userinfo (Python's urllib).
  u = ok("http://user:p@ss@h/x");
  EXPECT_EQ(u.host(), "h");
  EXPECT_EQ(u.password(), "p@ss");
  EXPECT_EQ(u.href(), "http://user:p%40ss@h/x");
  u = ok("http://lone@h");
  EXPECT_EQ(u.user(), "lone");
  EXPECT_EQ(u.password(), std::nullopt);
  EXPECT_FALSE(ok("http://h/a@b").has_userinfo());
  EXPECT_THAT(refused("http://u:pa%zzss@h/"), HasSubstr("invalid percent-escape in the user info"));
  EXPECT_THAT(refused("http://u:p ss@h/"), HasSubstr("user info contains a space"));
}

TEST(parsed_url, ports) {
  EXPECT_EQ(ok("http://h").port(), 80);
  EXPECT_EQ(ok("https://h").port(), 443);
  EXPECT_EQ(ok("http://h:/x").port(), 80);  // an empty port is the default (RFC 3986)
  EXPECT_EQ(ok("http://h:65535").port(), 65535);
  EXPECT_EQ(ok("http://h:1").port(), 1);
  EXPECT_TRUE(ok("http://h:80").default_port());
  EXPECT_FALSE(ok("https://h:80").default_port());
  const std::string range = "the port is not a number from 1 to 65535";
  EXPECT_EQ(refused("http://h:0/"), range);
  EXPECT_EQ(refused("http://h:65536/"), range);
  EXPECT_EQ(refused("http://h:99999999999/"), range);
  EXPECT_EQ(refused("http://h:8a/"), range);
  EXPECT_EQ(refused("http://h:-1/"), range);
  EXPECT_EQ(refused("http://[::1]:0/"), range);
}

TEST(parsed_url, percent_encoding_is_validated) {
  EXPECT_EQ(ok("http://h/a%20b?x=%41").path(), "/a%20b");
  EXPECT_THAT(refused("http://h/a%zz"), HasSubstr("invalid percent-escape in the path"));
  EXPECT_THAT(refused("http://h/a%4"), HasSubstr("invalid percent-escape in the path"));
  EXPECT_THAT(refused("http://h/?q=50%"), HasSubstr("invalid percent-escape in the query"));
  EXPECT_THAT(refused("http://h/#%g1"), HasSubstr("invalid percent-escape in the fragment"));
  EXPECT_THAT(refused("http://h%zz/"), HasSubstr("invalid percent-escape in the host"));
  EXPECT_THAT(refused("http://h/?q=50%"), HasSubstr("write a literal '%' as %25"));
  // Escapes in the host are decoded (then lower-cased).
  EXPECT_EQ(ok("http://ex%41mple.com/").host(), "example.com");
}

TEST(parsed_url, spaces_and_non_ascii_after_the_host_are_encoded_as_browsers_do) {
  auto u = ok("http://h/a b?c d#e f");
  EXPECT_EQ(u.target(), "/a%20b?c%20d");
  EXPECT_EQ(u.href(), "http://h/a%20b?c%20d#e%20f");
  EXPECT_EQ(ok("http://h/\xC3\xA9").path(), "/%C3%A9");
  EXPECT_EQ(ok("http://h/?q={\"a\":[1]}|").query(), "q={\"a\":[1]}|");
  EXPECT_EQ(refused("http://h/a\tb"),
            "the URL contains a control character (tab, line break, ...)");
  EXPECT_EQ(refused("http://h/a\r\nHost: x"),
            "the URL contains a control character (tab, line break, ...)");
  EXPECT_EQ(refused("http://h x/"), "the host is not a valid name or IP address");
}

TEST(parsed_url, scheme_whitelist_and_structure) {
  const std::string only_http = " (only http:// and https:// URLs are supported)";
  EXPECT_EQ(refused("ftp://h/x"), "unsupported scheme 'ftp'" + only_http);
  EXPECT_EQ(refused("ws://h/x"), "unsupported scheme 'ws'" + only_http);
  EXPECT_EQ(refused("h:80/x"), "the URL has no scheme" + only_http);
  EXPECT_EQ(refused("user:pw@h/x"), "the URL has no scheme" + only_http);
  EXPECT_EQ(refused("//h/x"), "the URL has no scheme" + only_http);
  EXPECT_EQ(refused(""), "the URL is empty");
  EXPECT_EQ(refused("http:/h/x"), "expected '//' after 'http:'");
  EXPECT_EQ(refused("http:h"), "expected '//' after 'http:'");
  EXPECT_EQ(refused("http:///h/x"), "the URL has no host");
  EXPECT_EQ(refused("http://"), "the URL has no host");
  EXPECT_EQ(refused("http://u:p@/x"), "the URL has no host");
  EXPECT_EQ(refused("http://:80/x"), "the URL has no host");
  EXPECT_EQ(refused("http://a<b/"), "the host is not a valid name or IP address");
  EXPECT_EQ(ok("http://127.1/").host(), "127.0.0.1");  // libcurl's IPv4 normalisation
  EXPECT_EQ(ok("http://h?q=1").target(), "/?q=1");
  EXPECT_EQ(ok("http://h").path(), "");
  EXPECT_EQ(ok("http://h").target(), "/");
  EXPECT_EQ(ok("http://h/a/../b").path(), "/a/../b");  // kept as written
}

TEST(parsed_url, errors_never_quote_the_userinfo) {
  const std::string secret = "s3cr3tpw";
  for (const std::string& text :
       {"http://u:" + secret + "@h:0/", "http://u:" + secret + "@h:x/", "http://u:" + secret +
        "@[::g]/", "http://u:" + secret + "%zz@h/", "http://u:" + secret + "@h/%zz",
        "http://u:" + secret + "@/x", "http://u:" + secret + "/x@h/",
        "ftp://u:" + secret + "@h/", "http://u:" + secret + "@h\t/"}) {
    EXPECT_THAT(refused(text), Not(HasSubstr(secret))) << text;
  }
}

TEST(parsed_url, origin_equality_across_case_and_default_ports) {
  EXPECT_EQ(ok("HTTP://Example.com:80/a").origin(), ok("http://example.com/b?x").origin());
  EXPECT_EQ(ok("https://h:443").origin(), "https://h");
  EXPECT_EQ(ok("http://u:p@H:8080/x").origin(), "http://h:8080");
  EXPECT_NE(ok("http://h:8080/").origin(), ok("http://h/").origin());
  EXPECT_NE(ok("http://h/").origin(), ok("https://h/").origin());
  EXPECT_NE(ok("https://h:80/").origin(), ok("http://h/").origin());
  EXPECT_EQ(ok("http://h:8080").host_header(), "h:8080");
  EXPECT_EQ(ok("http://h:80").host_header(), "h");
}

TEST(parsed_url, ws_and_redis_urls) {
  auto ws = ok("WSS://Server:7443/opal/ws", {"ws", "wss"});
  EXPECT_TRUE(ws.secure());
  EXPECT_EQ(ws.port(), 7443);
  EXPECT_EQ(ok("ws://h", {"ws", "wss"}).port(), 80);
  EXPECT_EQ(ok("wss://h", {"ws", "wss"}).port(), 443);
  auto r = ok("redis://:pa%3Ass@Redis.svc/2", {"redis"});
  EXPECT_EQ(r.host(), "redis.svc");
  EXPECT_EQ(r.port(), 6379);
  EXPECT_EQ(r.user(), "");
  EXPECT_EQ(r.password(), "pa:ss");
  EXPECT_EQ(r.path(), "/2");
  EXPECT_EQ(r.redacted(), "redis://redis.svc/2");
  EXPECT_EQ(ok("rediss://h:6380", {"rediss"}).port(), 6380);
  EXPECT_EQ(refused("http://h", {"redis"}),
            "unsupported scheme 'http' (only redis:// URLs are supported)");
  EXPECT_EQ(refused("x://h", {"http", "https", "ws", "wss"}),
            "unsupported scheme 'x' (only http://, https://, ws:// and wss:// URLs are supported)");
}

TEST(parsed_url, relative_references_resolve_against_the_url) {
  auto base = ok("https://h:8443/dir/page?x=1");
  std::string why;
  auto resolved = [&](std::string_view ref) {
    auto u = base.resolve(ref, {"http", "https"}, why);
    return u ? u->href() : "refused: " + why;
  };
  EXPECT_EQ(resolved("HTTP://Other/x"), "http://other/x");
  EXPECT_EQ(resolved("//cdn/x"), "https://cdn/x");
  EXPECT_EQ(resolved("/root"), "https://h:8443/root");
  EXPECT_EQ(resolved("next"), "https://h:8443/dir/next");
  EXPECT_EQ(resolved("../up"), "https://h:8443/up");
  EXPECT_EQ(resolved("?y=2"), "https://h:8443/dir/page?y=2");
  EXPECT_EQ(resolved("a b"), "https://h:8443/dir/a%20b");
  EXPECT_EQ(resolved("ftp://x/"),
            "refused: unsupported scheme 'ftp' (only http:// and https:// URLs are supported)");
}

TEST(redact_url, never_leaks_userinfo_query_or_fragment) {
  EXPECT_EQ(redact_url("https://user:pw@example.com:8443/a/b?token=x#frag"),
            "https://example.com:8443/a/b");
  EXPECT_EQ(redact_url("HTTP://U:PW@Example.COM:80/A?token=x"), "http://example.com/A");
  EXPECT_EQ(redact_url("http://example.com/a@b"), "http://example.com/a@b");
  EXPECT_EQ(redact_url("http://example.com?x=1"), "http://example.com");
  EXPECT_EQ(redact_url("http://u@host"), "http://host");
  EXPECT_EQ(redact_url("http://u:p@ss@host/x"), "http://host/x");
  EXPECT_EQ(redact_url("redis://:pw@r:6380/1"), "redis://r:6380/1");
  EXPECT_EQ(redact_url("wss://u:pw@[::1]/ws?t=1"), "wss://[::1]/ws");
  // Not parseable: cut textually, still without the credentials.
  EXPECT_EQ(redact_url("ftp://u:pw@h/x?y"), "ftp://h/x");
  EXPECT_EQ(redact_url("http://u:pw@h:0/x?token=1"), "http://h:0/x");
  EXPECT_EQ(redact_url("http://u:pw@h/%zz#f"), "http://h/%zz");
  EXPECT_EQ(redact_url("u:pw@h/x"), "h/x");
  EXPECT_EQ(redact_url("not a url"), "not a url");
  EXPECT_EQ(redact_url(""), "");
}

TEST(url_scheme, lower_cased_scheme_before_colon_slash_slash) {
  EXPECT_EQ(url_scheme("HTTPS://h"), "https");
  EXPECT_EQ(url_scheme("redis://h"), "redis");
  EXPECT_EQ(url_scheme("http:/h"), "");
  EXPECT_EQ(url_scheme("h:80"), "");
  EXPECT_EQ(url_scheme(""), "");
}

}  // namespace

namespace http_client {
namespace {

url_parts parsed(const std::string& text) {
  std::string why;
  auto u = parse_url(text, why);
  EXPECT_TRUE(u.has_value()) << text << ": " << why;
  return u.value_or(url_parts{});
}

std::string refused(const std::string& text) {
  std::string why;
  EXPECT_FALSE(parse_url(text, why).has_value()) << text;
  return why;
}

TEST(url, default_ports_paths_and_queries) {
  auto u = parsed("http://example.com");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, "80");
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.host_header(), "example.com");
  EXPECT_EQ(u.url, "http://example.com/");
  u = parsed("HTTPS://Example.com:8443/a/b?x=1#frag");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, "8443");
  EXPECT_EQ(u.target, "/a/b?x=1");
  EXPECT_EQ(u.host_header(), "example.com:8443");
  EXPECT_EQ(u.url, "https://example.com:8443/a/b?x=1");
  EXPECT_EQ(parsed("http://h?q=1").target, "/?q=1");
  EXPECT_EQ(parsed("https://h:443/").host_header(), "h");
}

TEST(url, ipv6_literals_and_userinfo) {
  auto u = parsed("http://user:p%40ss@[::1]:8181/v1/data");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "8181");
  EXPECT_EQ(u.userinfo, "user:p%40ss");
  EXPECT_EQ(u.host_header(), "[::1]:8181");
  EXPECT_EQ(u.url, "http://[::1]:8181/v1/data");
  EXPECT_EQ(percent_decode(u.userinfo), "user:p@ss");
  EXPECT_EQ(parsed("http://[fe80::1]/").port, "80");
}

TEST(url, refusals_say_why_without_quoting_the_url) {
  EXPECT_EQ(refused("ftp://h/x"),
            "unsupported scheme 'ftp' (only http:// and https:// URLs are supported)");
  EXPECT_EQ(refused("http:///path"), "the URL has no host");
  EXPECT_EQ(refused("http://h:0/"), "the port is not a number from 1 to 65535");
  EXPECT_EQ(refused("http://h:99999/"), "the port is not a number from 1 to 65535");
  EXPECT_EQ(refused("http://h:8x/"), "the port is not a number from 1 to 65535");
  EXPECT_EQ(refused("http://[::1/"), "the IPv6 address has no closing ']'");
  EXPECT_EQ(refused("http://h/a\nb"),
            "the URL contains a control character (tab, line break, ...)");
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
  EXPECT_EQ(resolve_location(base, "ftp://x/"), "");
  auto plain = parsed("http://h:1/data/config");
  EXPECT_EQ(resolve_location(plain, "/x?y"), "http://h:1/x?y");
  EXPECT_EQ(resolve_location(plain, "other"), "http://h:1/data/other");
}

TEST(url, percent_decoding_keeps_invalid_escapes) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
}

}  // namespace
}  // namespace http_client
}  // namespace pdl
