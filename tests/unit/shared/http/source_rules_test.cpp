#include "shared/http/source_rules.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/http/client.hpp"
#include "tests/unit/shared/http/tiny_server.hpp"

namespace pdl::http_client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using test::tiny_server;

std::string parse_error(std::string_view entry) {
  std::string why;
  auto r = source_rule::parse(entry, why);
  EXPECT_FALSE(r) << entry << " parsed";
  return why;
}

source_rule parsed(std::string_view entry) {
  std::string why;
  auto r = source_rule::parse(entry, why);
  EXPECT_TRUE(r) << entry << ": " << why;
  return r ? *r : source_rule{};
}

source_rules denying(std::initializer_list<std::string_view> entries,
                     source_rules base = source_rules::with_defaults()) {
  std::string why;
  for (auto e : entries) {
    EXPECT_TRUE(base.add_deny(e, "fetch.deny", why)) << e << ": " << why;
  }
  return base;
}

source_rules allowing(std::initializer_list<std::string_view> entries,
                      source_rules base = source_rules::with_defaults()) {
  std::string why;
  for (auto e : entries) {
    EXPECT_TRUE(base.add_allow(e, "fetch.allow", why)) << e << ": " << why;
  }
  return base;
}

/** The refusal's message, "" when allowed. */
std::string url_verdict(const source_rules& rules, std::string_view url) {
  auto r = rules.check_url(url);
  return r ? r->message : "";
}

struct sock {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

sock address(const std::string& ip, int port) {
  sock s;
  auto* in = reinterpret_cast<sockaddr_in*>(&s.storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.storage);
  if (::inet_pton(AF_INET, ip.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(port));
    s.len = sizeof(sockaddr_in);
  } else {
    EXPECT_EQ(::inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr), 1) << ip;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    s.len = sizeof(sockaddr_in6);
  }
  return s;
}

std::string address_verdict(const source_rules& rules, const std::string& ip, int port,
                            bool allow_matched = false) {
  const sock s = address(ip, port);
  auto r = rules.check_address(s.addr(), s.len, allow_matched);
  return r ? r->message : "";
}

// --- parsing ---------------------------------------------------------------------------------

TEST(SourceRuleParse, EachKindIsRecognised) {
  EXPECT_EQ(parsed("10.0.0.0/8").type(), source_rule::kind::network);
  EXPECT_EQ(parsed(" 169.254.169.254 ").type(), source_rule::kind::network);
  EXPECT_EQ(parsed(" 169.254.169.254 ").text(), "169.254.169.254");
  EXPECT_EQ(parsed("fe80::/10").type(), source_rule::kind::network);
  EXPECT_EQ(parsed("::1").type(), source_rule::kind::network);
  EXPECT_EQ(parsed("[::1]:8181").type(), source_rule::kind::network);
  EXPECT_EQ(parsed("[fd00::]/8:443").type(), source_rule::kind::network);
  EXPECT_EQ(parsed("127.0.0.0/8:8181").type(), source_rule::kind::network);
  EXPECT_EQ(parsed("api.example.com").type(), source_rule::kind::host);
  EXPECT_EQ(parsed("*.Example.COM").type(), source_rule::kind::host);
  EXPECT_EQ(parsed("opa:8181").type(), source_rule::kind::host);
  EXPECT_EQ(parsed("https://api.example.com/v1/").type(), source_rule::kind::url_prefix);
  EXPECT_EQ(parsed("HTTP://[::1]:8080").type(), source_rule::kind::url_prefix);
}

TEST(SourceRuleParse, ErrorsSayWhatIsWrong) {
  EXPECT_THAT(parse_error(""), HasSubstr("empty entry"));
  EXPECT_THAT(parse_error("10.0.0.1/8"),
              HasSubstr("'10.0.0.1/8': bits are set past the prefix length (the network is "
                        "10.0.0.0/8)"));
  EXPECT_THAT(parse_error("10.0.0.0/33"), HasSubstr("prefix length is not a number from 0 to 32"));
  EXPECT_THAT(parse_error("fe80::/129"), HasSubstr("from 0 to 128"));
  EXPECT_THAT(parse_error("10.0.0.0/x"), HasSubstr("prefix length"));
  EXPECT_THAT(parse_error("a*b.example.com"), HasSubstr("'*' is only allowed as the whole first"));
  EXPECT_THAT(parse_error("*.*.example.com"), HasSubstr("'*' is only allowed"));
  EXPECT_THAT(parse_error("*"), HasSubstr("would match every host name"));
  EXPECT_THAT(parse_error("1.2.3"), HasSubstr("'1.2.3': not an IPv4 address"));
  EXPECT_THAT(parse_error("2852039166"), HasSubstr("not an IPv4 address"));
  EXPECT_THAT(parse_error("[10.0.0.1]"), HasSubstr("not an IPv6 address between the brackets"));
  EXPECT_THAT(parse_error("[::1"), HasSubstr("no ']'"));
  EXPECT_THAT(parse_error("[::1]x"), HasSubstr("unexpected text after ']'"));
  EXPECT_THAT(parse_error("opa:0"), HasSubstr("'opa:0': the port is not a number from 1 to 65535"));
  EXPECT_THAT(parse_error("opa:99999"), HasSubstr("port"));
  EXPECT_THAT(parse_error("bad host.com"), HasSubstr("unexpected character ' '"));
  EXPECT_THAT(parse_error("a..b"), HasSubstr("empty label"));
  EXPECT_THAT(parse_error("example.com/8"), HasSubstr("not a CIDR"));
  EXPECT_THAT(parse_error("ftp://files.example.com/"), HasSubstr("only http:// and https://"));
  EXPECT_THAT(parse_error("https:///v1"), HasSubstr("not a URL prefix"));
  // The URL module refuses the host before the rule parser sees the '*'.
  EXPECT_THAT(parse_error("https://a*b.example.com/"), HasSubstr("not a valid name"));
}

TEST(SourceRuleParse, AUrlPrefixErrorNeverQuotesUserInfoOrQuery) {
  const auto userinfo = parse_error("https://user:s3cr3t@api.example.com/v1/");
  EXPECT_THAT(userinfo, HasSubstr("cannot hold user info"));
  EXPECT_THAT(userinfo, HasSubstr("'https://api.example.com/v1/'"));
  EXPECT_THAT(userinfo, Not(HasSubstr("s3cr3t")));
  const auto query = parse_error("https://api.example.com/v1?token=s3cr3t");
  EXPECT_THAT(query, HasSubstr("cannot hold a query"));
  EXPECT_THAT(query, Not(HasSubstr("s3cr3t")));
}

// --- URLs ------------------------------------------------------------------------------------

TEST(SourceRulesUrl, TheDefaultsRefuseLinkLocalAndMetadataAndNameTheRule) {
  const auto rules = source_rules::with_defaults();
  EXPECT_EQ(url_verdict(rules, "http://169.254.169.254/latest/meta-data"),
            "denied by default rule '169.254.0.0/16' (link-local; cloud metadata at "
            "169.254.169.254)");
  auto r = rules.check_url("http://169.254.169.254/latest/meta-data");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rule, "169.254.0.0/16");
  EXPECT_EQ(r->origin, "default");
  EXPECT_THAT(url_verdict(rules, "http://[fe80::1]:80/"), HasSubstr("'fe80::/10'"));
  // A zone id is refused by the URL module itself (never fetched either way).
  EXPECT_THAT(url_verdict(rules, "http://[fe80::1%25eth0]:80/"),
              HasSubstr("not an absolute http(s) URL"));
  EXPECT_THAT(url_verdict(rules, "http://[fd00:ec2::254]/latest/"), HasSubstr("'fd00:ec2::254'"));
  EXPECT_THAT(url_verdict(rules, "http://100.100.100.200/latest/meta-data"),
              HasSubstr("Alibaba"));
  EXPECT_THAT(url_verdict(rules, "http://168.63.129.16/machine"), HasSubstr("WireServer"));
  EXPECT_THAT(url_verdict(rules, "http://Metadata.Google.Internal./computeMetadata/v1/"),
              HasSubstr("'metadata.google.internal'"));
  // Loopback, private ranges and public hosts stay allowed.
  EXPECT_EQ(url_verdict(rules, "http://127.0.0.1:8080/data"), "");
  EXPECT_EQ(url_verdict(rules, "http://10.1.2.3/data"), "");
  EXPECT_EQ(url_verdict(rules, "https://api.example.com/v1/users"), "");
}

TEST(SourceRulesUrl, OtherSpellingsOfALinkLocalAddressAreRefusedToo) {
  const auto rules = source_rules::with_defaults();
  for (const char* url :
       {"http://2852039166/", "http://0xa9fea9fe/", "http://0xa9.0xfe.0xa9.0xfe/",
        "http://169.254.43518/", "http://0251.0376.0251.0376/", "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/", "http://%31%36%39.254.169.254/", "http://169.254.169.254./",
        "http://user:pw@169.254.169.254:80/x?y"}) {
    EXPECT_THAT(url_verdict(rules, url), HasSubstr("'169.254.0.0/16'")) << url;
  }
}

TEST(SourceRulesUrl, HostNamesMatchWithoutCaseAndWildcardsOnlyBelowTheDomain) {
  const auto rules = denying({"evil.example.com", "*.corp", "opa:8181"});
  EXPECT_EQ(url_verdict(rules, "https://EVIL.Example.com/x"),
            "denied by fetch.deny rule 'evil.example.com'");
  EXPECT_EQ(url_verdict(rules, "https://good.example.com/x"), "");
  EXPECT_THAT(url_verdict(rules, "http://a.b.corp/x"), HasSubstr("'*.corp'"));
  EXPECT_EQ(url_verdict(rules, "http://corp/x"), "");
  EXPECT_EQ(url_verdict(rules, "http://notcorp/x"), "");
  EXPECT_THAT(url_verdict(rules, "http://opa:8181/v1/data"), HasSubstr("'opa:8181'"));
  EXPECT_EQ(url_verdict(rules, "http://opa:8080/v1/data"), "");
}

TEST(SourceRulesUrl, AUrlPrefixMatchesSchemeHostPortAndPathSegments) {
  const auto rules = denying({"http://h.example:8080/private", "https://api.example.com/"});
  for (const char* url :
       {"http://h.example:8080/private", "http://H.EXAMPLE:8080/private/x?y=1",
        "http://h.example:8080/public/../private/x", "http://h.example:8080/%70rivate",
        "http://h.example:8080/./private"}) {
    EXPECT_THAT(url_verdict(rules, url), HasSubstr("'http://h.example:8080/private'")) << url;
  }
  for (const char* url : {"http://h.example:8080/privateer", "https://h.example:8080/private",
                          "http://h.example/private", "http://h.example:8080/public",
                          "http://h.example:8080/%2Fprivate"}) {
    EXPECT_EQ(url_verdict(rules, url), "") << url;
  }
  EXPECT_THAT(url_verdict(rules, "https://api.example.com:443/anything"),
              HasSubstr("'https://api.example.com/'"));
  EXPECT_EQ(url_verdict(rules, "http://api.example.com/anything"), "");
}

TEST(SourceRulesUrl, AStrictProfileRefusesWhatIsNotListed) {
  const auto rules = allowing({"https://api.example.com/v1/", "*.data.example.com"});
  bool matched = false;
  EXPECT_FALSE(rules.check_url("https://api.example.com/v1/users", &matched));
  EXPECT_TRUE(matched);
  EXPECT_FALSE(rules.check_url("https://x.data.example.com/any", &matched));
  EXPECT_TRUE(matched);
  EXPECT_EQ(url_verdict(rules, "https://api.example.com/v2/users"), "not in fetch.allow");
  EXPECT_EQ(url_verdict(rules, "https://api.example.com/v1/../admin"), "not in fetch.allow");
  EXPECT_EQ(url_verdict(rules, "http://api.example.com/v1/users"), "not in fetch.allow");
  EXPECT_EQ(url_verdict(rules, "http://127.0.0.1:8080/"), "not in fetch.allow");
  auto r = rules.check_url("https://other.example.com/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rule, "");
  EXPECT_EQ(r->origin, "fetch.allow");
}

TEST(SourceRulesUrl, DenyWinsOverAllow) {
  auto rules = allowing({"169.254.0.0/16", "*.example.com"});
  rules = denying({"secret.example.com"}, rules);
  EXPECT_THAT(url_verdict(rules, "http://169.254.169.254/"), HasSubstr("default rule"));
  EXPECT_THAT(url_verdict(rules, "http://secret.example.com/"), HasSubstr("fetch.deny"));
  EXPECT_EQ(url_verdict(rules, "http://public.example.com/"), "");
}

TEST(SourceRulesUrl, WithAddressesInTheAllowListANameIsDecidedByItsAddresses) {
  const auto rules = allowing({"10.0.0.0/8"});
  bool matched = true;
  EXPECT_FALSE(rules.check_url("http://data.internal/x", &matched));
  EXPECT_FALSE(matched);
  EXPECT_EQ(address_verdict(rules, "10.9.8.7", 80), "");
  EXPECT_EQ(address_verdict(rules, "192.168.1.1", 80), "not in fetch.allow");
  // An IP literal is decided at once.
  EXPECT_EQ(url_verdict(rules, "http://10.1.1.1/"), "");
  EXPECT_EQ(url_verdict(rules, "http://192.168.1.1/"), "not in fetch.allow");
}

TEST(SourceRulesUrl, AnUnparsableUrlIsRefused) {
  EXPECT_THAT(url_verdict(source_rules(), "file:///etc/passwd"), HasSubstr("not an absolute"));
  EXPECT_THAT(url_verdict(source_rules(), "http:///x"), HasSubstr("not an absolute"));
  EXPECT_EQ(url_verdict(source_rules(), "http://anything/"), "");
}

// --- addresses -------------------------------------------------------------------------------

TEST(SourceRulesAddress, DeniedAddressesAndTheirIpv6FormsAreRefused) {
  const auto rules = denying({"127.0.0.0/8:8181", "10.0.0.0/8"});
  EXPECT_EQ(address_verdict(rules, "169.254.169.254", 80),
            "denied by default rule '169.254.0.0/16' (link-local; cloud metadata at "
            "169.254.169.254)");
  EXPECT_THAT(address_verdict(rules, "::ffff:169.254.169.254", 80), HasSubstr("169.254.0.0/16"));
  EXPECT_THAT(address_verdict(rules, "64:ff9b::a9fe:a9fe", 80), HasSubstr("169.254.0.0/16"));
  EXPECT_THAT(address_verdict(rules, "fe80::1", 443), HasSubstr("fe80::/10"));
  EXPECT_THAT(address_verdict(rules, "fd00:ec2::254", 80), HasSubstr("fd00:ec2::254"));
  EXPECT_THAT(address_verdict(rules, "127.0.0.1", 8181), HasSubstr("'127.0.0.0/8:8181'"));
  EXPECT_THAT(address_verdict(rules, "::ffff:127.0.0.1", 8181), HasSubstr("127.0.0.0/8:8181"));
  EXPECT_EQ(address_verdict(rules, "127.0.0.1", 8080), "");
  EXPECT_THAT(address_verdict(rules, "10.200.0.1", 443), HasSubstr("'10.0.0.0/8'"));
  EXPECT_EQ(address_verdict(rules, "11.0.0.1", 443), "");
  EXPECT_EQ(address_verdict(rules, "::1", 8181), "");
}

TEST(SourceRulesAddress, AnIpv4MappedCidrIsAnIpv4Cidr) {
  const auto rules = denying({"::ffff:192.168.0.0/112"}, source_rules());
  EXPECT_THAT(address_verdict(rules, "192.168.3.4", 80), HasSubstr("::ffff:192.168.0.0/112"));
  EXPECT_EQ(address_verdict(rules, "192.169.0.1", 80), "");
}

TEST(SourceRulesAddress, ANameMatchedByTheAllowListStillPassesTheDenyList) {
  const auto rules = allowing({"api.example.com"});
  // api.example.com rebinding to the metadata address:
  EXPECT_THAT(address_verdict(rules, "169.254.169.254", 80, true), HasSubstr("default rule"));
  EXPECT_EQ(address_verdict(rules, "93.184.216.34", 80, true), "");
  EXPECT_EQ(address_verdict(rules, "93.184.216.34", 80, false), "not in fetch.allow");
}

TEST(SourceRulesAddress, OtherFamiliesAreRefused) {
  sockaddr_storage s{};
  s.ss_family = AF_UNIX;
  auto r = source_rules().check_address(reinterpret_cast<const sockaddr*>(&s), sizeof s);
  ASSERT_TRUE(r);
  EXPECT_THAT(r->message, HasSubstr("not an IPv4 or IPv6 address"));
}

// --- our own endpoints -----------------------------------------------------------------------

TEST(SourceRulesEndpoint, ALoopbackStoreIsDeniedEveryWayItCanBeReached) {
  source_rules rules = source_rules::with_defaults();
  rules.deny_endpoint("localhost", 8181, "the agent's policy store", true);
  for (const char* url :
       {"http://localhost:8181/v1/data/private", "http://LOCALHOST.:8181/v1/data",
        "http://127.0.0.1:8181/v1/data", "http://127.1.2.3:8181/", "http://[::1]:8181/",
        "http://0.0.0.0:8181/", "http://[::]:8181/", "http://[::ffff:127.0.0.1]:8181/",
        "http://2130706433:8181/", "http://opa.localhost:8181/"}) {
    EXPECT_THAT(url_verdict(rules, url), HasSubstr("(the agent's policy store)")) << url;
  }
  EXPECT_EQ(url_verdict(rules, "http://localhost:8182/"), "");
  EXPECT_EQ(url_verdict(rules, "http://127.0.0.1:8080/"), "");
  EXPECT_EQ(address_verdict(rules, "127.0.0.1", 8181),
            "denied by default rule '127.0.0.0/8:8181' (the agent's policy store)");
  EXPECT_THAT(address_verdict(rules, "::1", 8181), HasSubstr("'[::1]:8181'"));
  // Each address of this machine's interfaces, at the store's port.
  ifaddrs* list = nullptr;
  ASSERT_EQ(::getifaddrs(&list), 0);
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owner(list, ::freeifaddrs);
  int checked = 0;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr != nullptr && i->ifa_addr->sa_family == AF_INET) {
      sock s;
      std::memcpy(&s.storage, i->ifa_addr, sizeof(sockaddr_in));
      reinterpret_cast<sockaddr_in*>(&s.storage)->sin_port = htons(8181);
      s.len = sizeof(sockaddr_in);
      EXPECT_TRUE(rules.check_address(s.addr(), s.len));
      reinterpret_cast<sockaddr_in*>(&s.storage)->sin_port = htons(8182);
      const auto r = rules.check_address(s.addr(), s.len);
      EXPECT_FALSE(r && r->message.find("policy store") != std::string::npos);
      ++checked;
    }
  }
  EXPECT_GE(checked, 1);  // lo at least
}

TEST(SourceRulesEndpoint, AStoreByNameOrAddressIsDeniedAsWritten) {
  source_rules rules;
  rules.deny_endpoint("OPA.svc", 8181, "store", false);
  rules.deny_endpoint("[10.0.0.5]", 8181, "store", false);
  EXPECT_THAT(url_verdict(rules, "http://opa.svc:8181/v1/data"), HasSubstr("'opa.svc:8181'"));
  EXPECT_EQ(url_verdict(rules, "http://opa.svc:9000/"), "");
  EXPECT_THAT(url_verdict(rules, "http://10.0.0.5:8181/"), HasSubstr("'10.0.0.5:8181'"));
  EXPECT_THAT(address_verdict(rules, "10.0.0.5", 8181), HasSubstr("'10.0.0.5:8181'"));
  EXPECT_EQ(url_verdict(rules, "http://127.0.0.1:8181/"), "");  // not loopback: not widened
}

TEST(SourceRulesDescribe, ListsEveryEntryWithItsOrigin) {
  auto rules = allowing({"https://api.example.com/v1/"}, denying({"10.0.0.0/8"}));
  const auto lines = rules.describe();
  EXPECT_THAT(lines, ::testing::Contains(
                         "deny 169.254.0.0/16 (default: link-local; cloud metadata at "
                         "169.254.169.254)"));
  EXPECT_THAT(lines, ::testing::Contains("deny 10.0.0.0/8 (fetch.deny)"));
  EXPECT_EQ(lines.back(), "allow https://api.example.com/v1/ (fetch.allow)");
}

// --- apply(): the rules on real transfers ------------------------------------------------------

TEST(SourceRulesApply, ALinkLocalLiteralIsRefusedBeforeAnyConnection) {
  const auto rules = source_rules::with_defaults();
  request req;
  req.url = "http://user:pw@169.254.169.254/latest/meta-data?token=s3cr3t";
  req.connect_timeout = std::chrono::milliseconds(200);
  apply(rules, req);
  bool address_checked = false;
  auto inner = req.allow_address;
  req.allow_address = [&](const sockaddr* a, socklen_t l, std::string* why) {
    address_checked = true;
    return inner(a, l, why);
  };
  auto out = perform(req);
  ASSERT_TRUE(std::holds_alternative<transport_error>(out));
  const auto& err = std::get<transport_error>(out);
  EXPECT_EQ(err.what, transport_error::code::refused);
  // "request refused": the URL hook, before any name resolution or socket.
  EXPECT_THAT(err.message, StartsWith("request refused: denied by default rule '169.254.0.0/16'"));
  EXPECT_FALSE(address_checked);
  EXPECT_THAT(err.message, Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(err.message, Not(HasSubstr("pw")));
}

TEST(SourceRulesApply, ANameResolvingToADeniedAddressIsRefusedAfterDns) {
  tiny_server server(tiny_server::replying(200, "{}"));
  // "localhost" passes the URL check (no rule names it); its addresses do not.
  const auto rules = denying({"127.0.0.0/8", "::1"});
  request req;
  req.url = "http://localhost:" + std::to_string(server.port()) + "/data";
  apply(rules, req);
  auto out = perform(req);
  ASSERT_TRUE(std::holds_alternative<transport_error>(out));
  const auto& err = std::get<transport_error>(out);
  EXPECT_EQ(err.what, transport_error::code::refused);
  EXPECT_THAT(err.message, StartsWith("connection to "));
  EXPECT_THAT(err.message, HasSubstr("denied by fetch.deny rule '"));
  EXPECT_TRUE(server.requests().empty());

  // The same server is reachable when the rules allow it.
  request ok;
  ok.url = req.url;
  const auto defaults = source_rules::with_defaults();
  apply(defaults, ok);
  auto fine = perform(ok);
  ASSERT_TRUE(std::holds_alternative<response>(fine)) << std::get<transport_error>(fine).message;
  EXPECT_EQ(std::get<response>(fine).body, "{}");
}

TEST(SourceRulesApply, ARedirectToADeniedAddressIsRefusedAndNeverRequested) {
  tiny_server store(tiny_server::replying(200, R"({"private":true})"));
  tiny_server source(tiny_server::replying(
      302, "", "Location: " + store.url("/v1/data/private") + "\r\n"));
  source_rules rules = source_rules::with_defaults();
  rules.deny_endpoint("127.0.0.1", static_cast<std::uint16_t>(store.port()), "the store", true);
  request req;
  req.url = source.url("/data");
  req.max_redirects = 3;
  apply(rules, req);
  auto out = perform(req);
  ASSERT_TRUE(std::holds_alternative<transport_error>(out));
  const auto& err = std::get<transport_error>(out);
  EXPECT_EQ(err.what, transport_error::code::refused);
  EXPECT_THAT(err.message, StartsWith("redirect refused: denied by default rule '127.0.0.1:" +
                                      std::to_string(store.port()) + "' (the store)"));
  EXPECT_EQ(source.requests().size(), 1u);
  EXPECT_TRUE(store.requests().empty());
}

TEST(SourceRulesApply, ARedirectToTheMetadataAddressIsRefused) {
  tiny_server source(tiny_server::replying(
      307, "", "Location: http://169.254.169.254/latest/meta-data/iam\r\n"));
  const auto rules = source_rules::with_defaults();
  request req;
  req.url = source.url("/data");
  req.max_redirects = 3;
  apply(rules, req);
  auto out = perform(req);
  ASSERT_TRUE(std::holds_alternative<transport_error>(out));
  EXPECT_THAT(std::get<transport_error>(out).message,
              StartsWith("redirect refused: denied by default rule '169.254.0.0/16'"));
}

TEST(SourceRulesApply, AnAllowedRedirectChainIsFollowed) {
  tiny_server target(tiny_server::replying(200, "[1]"));
  tiny_server source(tiny_server::replying(302, "", "Location: " + target.url("/x") + "\r\n"));
  const auto rules = allowing({"127.0.0.1:" + std::to_string(source.port()),
                               "http://127.0.0.1:" + std::to_string(target.port()) + "/x"});
  request req;
  req.url = source.url("/data");
  req.max_redirects = 3;
  apply(rules, req);
  auto out = perform(req);
  ASSERT_TRUE(std::holds_alternative<response>(out)) << std::get<transport_error>(out).message;
  EXPECT_EQ(std::get<response>(out).body, "[1]");

  // The same chain when the target is not listed.
  const auto strict = allowing({"127.0.0.1:" + std::to_string(source.port())});
  request req2;
  req2.url = source.url("/data");
  req2.max_redirects = 3;
  apply(strict, req2);
  auto refused = perform(req2);
  ASSERT_TRUE(std::holds_alternative<transport_error>(refused));
  EXPECT_THAT(std::get<transport_error>(refused).message,
              StartsWith("redirect refused: not in fetch.allow"));
}

}  // namespace
}  // namespace pdl::http_client
