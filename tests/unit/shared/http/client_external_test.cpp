// The HTTP client against real programs from Debian: a proxy (tinyproxy) and an HTTP/2 server
// (nghttpd, package nghttp2-server). Each test skips, saying so, when its program is missing.
#include "shared/http/client.hpp"
#include "shared/http/multi_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/unit/shared/http/tiny_server.hpp"
#include "tests/unit/shared/http/threaded_server.hpp"
#include "tests/unit/shared/http/tiny_tls_server.hpp"

namespace pdl::http_client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pdl::test::tiny_server;
using pdl::test::tiny_tls_server;
using namespace std::chrono_literals;

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

/** A loopback port free a moment ago (the program started next binds it). */
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

using vars = std::map<std::string, std::string>;

/** Sets environment variables for one scope and restores what was there. */
class env_scope {
 public:
  explicit env_scope(const std::map<std::string, std::string>& vars) {
    for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                             "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      if (const char* v = std::getenv(name)) {
        saved_[name] = v;
      }
      ::unsetenv(name);
    }
    for (const auto& [k, v] : vars) {
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  ~env_scope() {
    for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                             "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      ::unsetenv(name);
    }
    for (const auto& [k, v] : saved_) {
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  env_scope(const env_scope&) = delete;
  env_scope& operator=(const env_scope&) = delete;

 private:
  std::map<std::string, std::string> saved_;
};

response ok_or_fail(const std::variant<response, transport_error>& r) {
  if (auto* e = std::get_if<transport_error>(&r)) {
    ADD_FAILURE() << "transport error: " << e->message;
    return {};
  }
  return std::get<response>(r);
}

constexpr const char* tinyproxy_binary = "/usr/bin/tinyproxy";
constexpr const char* via_name = "pdl-test-proxy";

class HttpClientProxy : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!executable(tinyproxy_binary)) {
      GTEST_SKIP() << tinyproxy_binary << " not found: install tinyproxy (scripts/setup.sh)";
    }
    port_ = free_port();
    const std::string conf = dir_.file("tinyproxy.conf");
    std::ofstream(conf) << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\n"
                        << "Allow 127.0.0.1\nViaProxyName \"" << via_name << "\"\nLogLevel Info\n"
                        << "LogFile \"" << dir_.file("tinyproxy.log") << "\"\n"
                        << extra_conf_;
    proxy_ = std::make_unique<pdl::test::process>(
        tinyproxy_binary, std::vector<std::string>{"-d", "-c", conf},
        std::map<std::string, std::string>{}, dir_.file("tinyproxy.out"));
    ASSERT_TRUE(pdl::test::poll_until([this] { return accepts(port_); }, 10s))
        << "tinyproxy did not listen: " << proxy_->log();
  }

  std::string proxy_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string proxy_log() const {
    return pdl::test::read_file(dir_.file("tinyproxy.log")) + proxy_->log();
  }

  pdl::test::temp_dir dir_;
  std::string extra_conf_;  // appended to tinyproxy.conf (set before SetUp)
  int port_ = 0;
  std::unique_ptr<pdl::test::process> proxy_;
};

/** tinyproxy forwarding every *.proxied.invalid request to an origin on loopback: a host name
 *  that only the proxy can reach (nothing resolves it, the proxy never needs to). */
class HttpClientProxyOnlyName : public HttpClientProxy {
 protected:
  HttpClientProxyOnlyName()
      : origin_([](int fd, const std::string& req) {
          const std::string line = req.substr(0, req.find("\r\n"));
          pdl::test::threaded_server::write_all(
              fd, pdl::test::threaded_server::response(200, "{\"line\":\"" + line + "\"}"));
          return true;
        }) {
    extra_conf_ = "upstream http 127.0.0.1:" + std::to_string(origin_.port()) +
                  " \".proxied.invalid\"\n";
  }
  pdl::test::threaded_server origin_;
};

std::variant<response, transport_error> perform_multi(multi_client& client, request req) {
  std::promise<std::variant<response, transport_error>> done;
  auto future = done.get_future();
  client.start(std::move(req), {}, [&done](std::variant<response, transport_error> r,
                                           std::exception_ptr) { done.set_value(std::move(r)); });
  return future.get();
}

TEST_F(HttpClientProxyOnlyName, TheEventDrivenClientReachesAHostOnlyThroughTheProxy) {
  multi_client client;
  request req;
  req.url = "http://source.proxied.invalid/data?x=1";
  {
    env_scope env(vars{});
    auto direct = perform_multi(client, req);
    ASSERT_TRUE(std::holds_alternative<transport_error>(direct));
    EXPECT_EQ(std::get<transport_error>(direct).what, transport_error::code::connect);
  }
  for (const char* var : {"http_proxy", "HTTP_PROXY", ""}) {
    env_scope env(*var != '\0' ? vars{{var, proxy_url()}} : vars{});
    request r = req;
    if (*var == '\0') {
      r.proxy = proxy_url();  // the YAML setting's way
    }
    auto resp = ok_or_fail(perform_multi(client, r));
    EXPECT_EQ(resp.status, 200) << var;
    EXPECT_THAT(resp.body, HasSubstr("GET http://source.proxied.invalid")) << var;
    EXPECT_THAT(resp.body, HasSubstr("/data?x=1 HTTP/1.1")) << var;
  }
  EXPECT_EQ(origin_.requests(), 3);
}

TEST_F(HttpClientProxy, AnExplicitProxyCarriesTheRequest) {
  tiny_server server(tiny_server::replying(200, "via proxy"));
  env_scope env(vars{{"NO_PROXY", "127.0.0.1"}});  // the explicit proxy wins over it
  request req;
  req.url = server.url("/x");
  req.proxy = proxy_url();
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.body, "via proxy");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_THAT(server.requests()[0], HasSubstr(via_name));

  req.proxy = "";  // explicitly none, whatever the environment says
  env_scope direct(vars{{"http_proxy", proxy_url()}});
  ok_or_fail(perform(req));
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_THAT(server.requests()[1], Not(HasSubstr(via_name)));
}

TEST_F(HttpClientProxy, TheEnvironmentChoosesTheProxy) {
  tiny_server server(tiny_server::replying(200, "ok"));
  request req;
  req.url = server.url("/x");
  {
    env_scope env(vars{{"http_proxy", proxy_url()}});
    ok_or_fail(perform(req));
  }
  {
    // Upper case too, as every HTTP tool but curl reads it...
    env_scope env(vars{{"HTTP_PROXY", proxy_url()}});
    ok_or_fail(perform(req));
  }
  {
    // ...except in a CGI program, where it holds a request's Proxy: header (httpoxy).
    env_scope env(vars{{"HTTP_PROXY", proxy_url()}});
    ::setenv("REQUEST_METHOD", "GET", 1);
    ok_or_fail(perform(req));
    ::unsetenv("REQUEST_METHOD");
  }
  {
    env_scope env(vars{{"http_proxy", proxy_url()}, {"NO_PROXY", "127.0.0.1"}});
    ok_or_fail(perform(req));
  }
  {
    env_scope env(vars{{"ALL_PROXY", proxy_url()}});
    ok_or_fail(perform(req));
  }
  {
    env_scope env(vars{{"HTTP_PROXY", proxy_url()}, {"no_proxy", "127.0.0.1"}});
    ok_or_fail(perform(req));
  }
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_THAT(reqs[0], HasSubstr(via_name));
  EXPECT_THAT(reqs[1], HasSubstr(via_name));
  EXPECT_THAT(reqs[2], Not(HasSubstr(via_name)));
  EXPECT_THAT(reqs[3], Not(HasSubstr(via_name)));
  EXPECT_THAT(reqs[4], HasSubstr(via_name));
  EXPECT_THAT(reqs[5], Not(HasSubstr(via_name)));
}

TEST_F(HttpClientProxy, HttpsGoesThroughConnect) {
  pdl::test::temp_dir cert_dir;
  const auto certs = pdl::test::test_certs::generate(cert_dir.path());
  tiny_tls_server server(certs.server_cert, certs.server_key,
                         tiny_server::response(200, "tunnelled"));
  for (const char* var : {"HTTPS_PROXY", "https_proxy"}) {
    env_scope env(vars{{var, proxy_url()}});
    request req;
    req.url = server.url("/secret?k=v");
    req.ca_file = certs.ca_cert;
    auto resp = ok_or_fail(perform(req));
    EXPECT_EQ(resp.body, "tunnelled") << var;
  }
  EXPECT_EQ(server.requests().size(), 2u);
  const std::string log = proxy_log();
  EXPECT_THAT(log, HasSubstr("CONNECT"));
  EXPECT_THAT(log, Not(HasSubstr("/secret")));  // the request itself stayed inside the tunnel
}

constexpr const char* nghttpd_binary = "/usr/sbin/nghttpd";

TEST(HttpClientHttp2, HttpsSpeaksHttp2WithAServerThatOffersIt) {
  if (!executable(nghttpd_binary)) {
    GTEST_SKIP() << nghttpd_binary << " not found: install nghttp2-server (scripts/setup.sh)";
  }
  pdl::test::temp_dir dir;
  const auto certs = pdl::test::test_certs::generate(dir.path());
  ::mkdir(dir.file("htdocs").c_str(), 0755);
  const std::string doc = R"({"served":"over h2"})";
  std::ofstream(dir.file("htdocs/data.json")) << doc;
  const int port = free_port();
  pdl::test::process server(
      nghttpd_binary,
      {"-a", "127.0.0.1", "-d", dir.file("htdocs"), "--echo-upload", std::to_string(port),
       certs.server_key, certs.server_cert},
      {}, dir.file("nghttpd.log"));
  ASSERT_TRUE(pdl::test::poll_until([port] { return accepts(port); }, 10s)) << server.log();

  request req;
  req.url = "https://127.0.0.1:" + std::to_string(port) + "/data.json";
  req.ca_file = certs.ca_cert;
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.http_version, 20);
  EXPECT_EQ(resp.body, doc);
  for (const auto& [name, value] : resp.headers) {
    EXPECT_EQ(name.find(':'), std::string::npos) << name;  // no pseudo-headers
  }
  {
    // The agent's event-driven client too, three transfers multiplexed on one connection.
    multi_client client;
    for (int i = 0; i < 3; ++i) {
      auto multi = ok_or_fail(perform_multi(client, req));
      EXPECT_EQ(multi.http_version, 20);
      EXPECT_EQ(multi.body, doc);
    }
  }

  // A streamed upload of unknown size (no chunked encoding in HTTP/2), echoed back.
  const std::string payload(200000, 'u');
  std::size_t sent = 0;
  req.method = "PUT";
  req.url = "https://127.0.0.1:" + std::to_string(port) + "/echo";
  req.body_source = [&](char* buf, std::size_t max) {
    const std::size_t n = std::min(max, payload.size() - sent);
    std::memcpy(buf, payload.data() + sent, n);
    sent += n;
    return n;
  };
  auto echoed = ok_or_fail(perform(req));
  EXPECT_EQ(echoed.http_version, 20);
  EXPECT_EQ(echoed.body, payload);
}

}  // namespace
}  // namespace pdl::http_client
