#include "shared/http/client.hpp"

#include <netinet/in.h>
#include <zlib.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/unit/shared/http/gzip.hpp"
#include "tests/unit/shared/http/tiny_server.hpp"
#include "tests/unit/shared/http/tiny_tls_server.hpp"

namespace pdl::http_client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pdl::test::tiny_server;
using pdl::test::tiny_tls_server;
using namespace std::chrono_literals;

response ok_or_fail(const std::variant<response, transport_error>& r) {
  if (auto* e = std::get_if<transport_error>(&r)) {
    ADD_FAILURE() << "transport error: " << e->message;
    return {};
  }
  return std::get<response>(r);
}

transport_error error_or_fail(const std::variant<response, transport_error>& r) {
  if (auto* resp = std::get_if<response>(&r)) {
    ADD_FAILURE() << "unexpected response, status " << resp->status;
    return {transport_error::code::other, ""};
  }
  return std::get<transport_error>(r);
}

TEST(HttpClient, GetReturnsStatusHeadersAndBody) {
  tiny_server server(tiny_server::replying(201, "hello", "X-Thing: Some Value\r\n"));
  request req;
  req.url = server.url("/path?q=1");
  req.headers.emplace_back("Authorization", secret("Bearer abc"));
  req.headers.emplace_back("X-Empty", secret(""));
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.status, 201);
  EXPECT_EQ(resp.body, "hello");
  EXPECT_EQ(resp.body_bytes, 5u);
  EXPECT_EQ(resp.header("x-thing"), "Some Value");
  EXPECT_EQ(resp.header("X-THING"), "Some Value");
  EXPECT_FALSE(resp.header("missing"));
  for (const auto& [name, value] : resp.headers) {
    for (char c : name) {
      EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << name;
    }
  }
  EXPECT_EQ(resp.effective_url, req.url);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_THAT(reqs[0], HasSubstr("GET /path?q=1 HTTP/1.1\r\n"));
  EXPECT_THAT(reqs[0], HasSubstr("Authorization: Bearer abc\r\n"));
  EXPECT_THAT(reqs[0], HasSubstr("X-Empty:"));
}

TEST(HttpClient, InMemoryBodyWithAnyMethod) {
  tiny_server server(tiny_server::replying(200, "{}"));
  request req;
  req.url = server.url("/v1/data/x");
  req.method = "patch";
  req.body = R"([{"op":"add","path":"/a","value":1}])";
  req.headers.emplace_back("Content-Type", secret("application/json-patch+json"));
  EXPECT_EQ(ok_or_fail(perform(req)).status, 200);

  req.method = "POST";
  req.body = "posted";
  EXPECT_EQ(ok_or_fail(perform(req)).status, 200);

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[0], HasSubstr("PATCH /v1/data/x HTTP/1.1"));
  EXPECT_THAT(reqs[0], HasSubstr("\r\n\r\n[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]"));
  EXPECT_THAT(reqs[1], HasSubstr("POST /v1/data/x HTTP/1.1"));
  EXPECT_THAT(reqs[1], HasSubstr("\r\n\r\nposted"));
  EXPECT_THAT(reqs[1], Not(HasSubstr("Expect:")));
}

TEST(HttpClient, StreamingUploadWithKnownAndUnknownSize) {
  tiny_server server(tiny_server::replying(204, ""));
  const std::string payload(100000, 'x');
  for (bool known : {true, false}) {
    std::size_t sent = 0;
    request req;
    req.method = "PUT";
    req.url = server.url("/v1/data/big");
    req.body_source = [&](char* buf, std::size_t max) {
      std::size_t n = std::min(max, payload.size() - sent);
      std::memcpy(buf, payload.data() + sent, n);
      sent += n;
      return n;
    };
    req.upload_size = known ? static_cast<std::int64_t>(payload.size()) : -1;
    EXPECT_EQ(ok_or_fail(perform(req)).status, 204);
    EXPECT_EQ(sent, payload.size());
  }
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[0], HasSubstr("PUT /v1/data/big"));
  EXPECT_THAT(reqs[0], HasSubstr("Content-Length: 100000"));
  EXPECT_EQ(reqs[0].size() - reqs[0].find("\r\n\r\n") - 4, payload.size());
  EXPECT_THAT(reqs[1], HasSubstr("Transfer-Encoding: chunked"));
}

TEST(HttpClient, StreamingSinkReceivesStatusAndChunks) {
  const std::string body(50000, 'b');
  tiny_server server(tiny_server::replying(200, body));
  request req;
  req.url = server.url("/data");
  std::string got;
  long seen_status = 0;
  auto resp = ok_or_fail(perform(req, [&](long status, std::string_view chunk) {
    seen_status = status;
    got.append(chunk);
    return true;
  }));
  EXPECT_EQ(seen_status, 200);
  EXPECT_EQ(got, body);
  EXPECT_TRUE(resp.body.empty());
  EXPECT_EQ(resp.body_bytes, body.size());
}

TEST(HttpClient, SinkReturningFalseAborts) {
  tiny_server server(tiny_server::replying(200, std::string(50000, 'b')));
  request req;
  req.url = server.url("/data");
  auto err = error_or_fail(perform(req, [](long, std::string_view) { return false; }));
  EXPECT_EQ(err.what, transport_error::code::aborted);
}

TEST(HttpClient, ResponseSizeLimitWithContentLength) {
  tiny_server server(tiny_server::replying(200, std::string(1000, 'x')));
  request req;
  req.url = server.url("/big");
  req.max_response_bytes = 100;
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::too_large);
  EXPECT_THAT(err.message, HasSubstr("100 bytes"));
}

TEST(HttpClient, ResponseSizeLimitWhileStreaming) {
  // No Content-Length: the limit can only be enforced as bytes arrive.
  tiny_server server([](int fd, const std::string&) {
    tiny_server::write_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    tiny_server::write_all(fd, std::string(5000, 'x'));
  });
  request req;
  req.url = server.url("/big");
  req.max_response_bytes = 1000;
  std::size_t delivered = 0;
  auto err = error_or_fail(perform(req, [&](long, std::string_view c) {
    delivered += c.size();
    return true;
  }));
  EXPECT_EQ(err.what, transport_error::code::too_large);
  EXPECT_LE(delivered, 1000u);
}

TEST(HttpClient, IdleTimeoutOnAHangingServer) {
  tiny_server server([](int fd, const std::string&) { tiny_server::hang(fd); });
  request req;
  req.url = server.url("/slow");
  req.idle_timeout = 200ms;
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::timeout);
  EXPECT_THAT(err.message, HasSubstr("/slow"));
}

TEST(HttpClient, ConnectionRefusedIsConnect) {
  int port = 0;
  {
    tiny_server gone(tiny_server::replying(200, ""));
    port = gone.port();
  }
  request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::connect);
}

TEST(HttpClient, ErrorsNeverContainSecretsOrQuery) {
  int port = 0;
  {
    tiny_server gone(tiny_server::replying(200, ""));
    port = gone.port();
  }
  request req;
  req.url = "http://user:pa55word@127.0.0.1:" + std::to_string(port) + "/x?token=q-secret";
  req.headers.emplace_back("Authorization", secret("Bearer h-secret"));
  auto err = error_or_fail(perform(req));
  EXPECT_THAT(err.message, HasSubstr("127.0.0.1:" + std::to_string(port) + "/x"));
  EXPECT_THAT(err.message, Not(HasSubstr("pa55word")));
  EXPECT_THAT(err.message, Not(HasSubstr("q-secret")));
  EXPECT_THAT(err.message, Not(HasSubstr("h-secret")));
}

TEST(HttpClient, HeaderInjectionIsRefusedWithoutEchoingTheValue) {
  request req;
  req.url = "http://127.0.0.1:1/x";
  req.headers.emplace_back("X-Token", secret("abc\r\nEvil: 1"));
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::other);
  EXPECT_THAT(err.message, HasSubstr("X-Token"));
  EXPECT_THAT(err.message, Not(HasSubstr("Evil")));
}

TEST(HttpClient, RedirectsAreNotFollowedByDefault) {
  tiny_server server(tiny_server::replying(302, "", "Location: /elsewhere\r\n"));
  request req;
  req.url = server.url("/start");
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.status, 302);
  EXPECT_EQ(resp.header("location"), "/elsewhere");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, FollowedRedirectDropsAuthorizationForAnotherHost) {
  int port = 0;
  tiny_server server([&port](int fd, const std::string& req) {
    if (req.rfind("GET /start", 0) == 0) {
      tiny_server::write_all(
          fd, tiny_server::response(
                  307, "", "Location: http://localhost:" + std::to_string(port) + "/next\r\n"));
    } else {
      tiny_server::write_all(fd, tiny_server::response(200, "done"));
    }
  });
  port = server.port();
  request req;
  req.url = server.url("/start");
  req.max_redirects = 3;
  req.headers.emplace_back("Authorization", secret("Bearer abc"));
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "done");
  EXPECT_THAT(resp.effective_url, HasSubstr("/next"));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[0], HasSubstr("Authorization: Bearer abc"));
  EXPECT_THAT(reqs[1], HasSubstr("GET /next"));
  EXPECT_THAT(reqs[1], Not(HasSubstr("Authorization")));
}

TEST(HttpClient, UserinfoBecomesBasicAuthorization) {
  tiny_server server(tiny_server::replying(200, "ok"));
  request req;
  req.url = "http://al%40ice:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/x";
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.status, 200);
  ASSERT_EQ(server.requests().size(), 1u);
  // base64("al@ice:s3cret")
  EXPECT_THAT(server.requests()[0], HasSubstr("Authorization: Basic YWxAaWNlOnMzY3JldA=="));
  EXPECT_THAT(server.requests()[0], HasSubstr("GET /x HTTP/1.1"));
}

TEST(HttpClient, SeeOtherTurnsAPostIntoAGetWithoutTheBody) {
  tiny_server server([](int fd, const std::string& req) {
    if (req.rfind("POST /form", 0) == 0) {
      tiny_server::write_all(fd, tiny_server::response(303, "", "Location: /result\r\n"));
    } else {
      tiny_server::write_all(fd, tiny_server::response(200, "seen"));
    }
  });
  request req;
  req.method = "POST";
  req.url = server.url("/form");
  req.body = "payload";
  req.max_redirects = 2;
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.body, "seen");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[0], HasSubstr("payload"));
  EXPECT_THAT(reqs[1], HasSubstr("GET /result"));
  EXPECT_THAT(reqs[1], Not(HasSubstr("payload")));
}

TEST(HttpClient, AStreamedUploadIsNotReplayedToARedirect) {
  tiny_server server(tiny_server::replying(307, "", "Location: /again\r\n"));
  request req;
  req.method = "PUT";
  req.url = server.url("/put");
  req.max_redirects = 2;
  bool given = false;
  req.body_source = [&given](char* buf, std::size_t) -> std::size_t {
    if (given) return 0;
    given = true;
    std::memcpy(buf, "{}", 2);
    return 2;
  };
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::other);
  EXPECT_THAT(err.message, HasSubstr("redirect"));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, TotalTimeoutCutsATrickle) {
  // Headers then nothing: the idle timeout (10 s) would wait, the total limit does not.
  tiny_server server([](int fd, const std::string&) {
    tiny_server::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
    tiny_server::hang(fd);
  });
  request req;
  req.url = server.url("/slow");
  req.total_timeout = 300ms;
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::timeout);
  EXPECT_THAT(err.message, HasSubstr("total"));
}

TEST(HttpClient, OnlyHttpAndHttpsUrls) {
  request req;
  req.url = "file:///etc/passwd";
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::other);
  EXPECT_THAT(err.message, HasSubstr("only http:// and https://"));
}


std::string request_header(const std::string& raw, const std::string& lower_name) {
  std::string lowered = raw;
  for (char& c : lowered) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto at = lowered.find("\r\n" + lower_name + ":");
  if (at == std::string::npos) {
    return {};
  }
  at += 3 + lower_name.size();
  return std::string(raw.substr(at, raw.find("\r\n", at) - at));
}

TEST(HttpClient, AsksForEveryCodingLibcurlDecodes) {
  tiny_server server(tiny_server::replying(200, "plain"));
  request req;
  req.url = server.url("/x");
  EXPECT_EQ(ok_or_fail(perform(req)).body, "plain");
  ASSERT_EQ(server.requests().size(), 1u);
  const std::string asked = request_header(server.requests()[0], "accept-encoding");
  const auto codings = supported_encodings();
  EXPECT_THAT(codings, ::testing::Contains("gzip"));
  EXPECT_THAT(codings, ::testing::Contains("deflate"));
  for (const auto& coding : codings) {
    EXPECT_THAT(asked, HasSubstr(coding));
  }
}

TEST(HttpClient, GzipBodyReachesTheSinkDecoded) {
  std::string doc = "{\"items\":[";
  for (int i = 0; i < 5000; ++i) {
    doc += (i ? "," : "") + std::to_string(i);
  }
  doc += "]}";
  const std::string packed = pdl::test::gzip(doc);
  ASSERT_LT(packed.size(), doc.size() / 2);
  tiny_server server(tiny_server::replying(200, packed, "Content-Encoding: gzip\r\n"));
  request req;
  req.url = server.url("/data.json");
  std::string got;
  auto resp = ok_or_fail(perform(req, [&](long, std::string_view chunk) {
    got.append(chunk);
    return true;
  }));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(got, doc);
  EXPECT_EQ(resp.body_bytes, doc.size());
  EXPECT_EQ(resp.header("content-encoding"), "gzip");
  // In memory too.
  EXPECT_EQ(ok_or_fail(perform(req)).body, doc);
}

TEST(HttpClient, TheSizeLimitCountsDecodedBytes) {
  // 4 MB of zeros is a few KB compressed: the limit applies to what the receiver would get.
  const std::string packed = pdl::test::gzip(std::string(4 * 1024 * 1024, '0'));
  tiny_server server(tiny_server::replying(200, packed, "Content-Encoding: gzip\r\n"));
  request req;
  req.url = server.url("/bomb");
  req.max_response_bytes = 100 * 1024;
  std::size_t delivered = 0;
  auto err = error_or_fail(perform(req, [&](long, std::string_view c) {
    delivered += c.size();
    return true;
  }));
  EXPECT_EQ(err.what, transport_error::code::too_large);
  EXPECT_LE(delivered, req.max_response_bytes);
}

class HttpClientTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new pdl::test::temp_dir();
    certs_ = new pdl::test::test_certs(pdl::test::test_certs::generate(dir_->path()));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }
  static pdl::test::temp_dir* dir_;
  static pdl::test::test_certs* certs_;
};
pdl::test::temp_dir* HttpClientTls::dir_ = nullptr;
pdl::test::test_certs* HttpClientTls::certs_ = nullptr;

TEST_F(HttpClientTls, HttpsWithACustomCa) {
  tiny_tls_server server(certs_->server_cert, certs_->server_key,
                         tiny_server::response(200, "secure"));
  request req;
  req.url = server.url("/x");
  req.ca_file = certs_->ca_cert;
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "secure");

  req.ca_file = certs_->other_ca_cert;  // peers are always verified
  EXPECT_EQ(error_or_fail(perform(req)).what, transport_error::code::tls);
}

TEST_F(HttpClientTls, ARedirectFromHttpsToHttpIsRefused) {
  tiny_server plain(tiny_server::replying(200, "downgraded"));
  tiny_tls_server server(
      certs_->server_cert, certs_->server_key,
      tiny_server::response(302, "", "Location: " + plain.url("/x?token=t-secret") + "\r\n"));
  request req;
  req.url = server.url("/start");
  req.ca_file = certs_->ca_cert;
  req.max_redirects = 5;
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::other);
  EXPECT_THAT(err.message, HasSubstr("https to http"));
  EXPECT_THAT(err.message, Not(HasSubstr("t-secret")));
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(plain.requests().empty());
}

TEST(HttpClient, ACrossOriginRedirectDropsTheCallersHeadersAndCredentials) {
  tiny_server second(tiny_server::replying(200, "there"));
  const std::string target = second.url("/next");  // another port: another origin
  tiny_server first([&target](int fd, const std::string& req) {
    if (req.rfind("GET /same", 0) == 0) {
      tiny_server::write_all(fd, tiny_server::response(307, "", "Location: /start\r\n"));
    } else {
      tiny_server::write_all(fd,
                             tiny_server::response(307, "", "Location: " + target + "\r\n"));
    }
  });
  request req;
  req.url = first.url("/same");
  req.max_redirects = 3;
  req.headers.emplace_back("Authorization", secret("Bearer abc"));
  req.headers.emplace_back("X-Api-Key", secret("k-secret"));
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.body, "there");
  EXPECT_EQ(resp.effective_url, target);
  auto firsts = first.requests();
  ASSERT_EQ(firsts.size(), 2u);
  for (const auto& r : firsts) {  // same origin: everything the caller gave
    EXPECT_THAT(r, HasSubstr("Authorization: Bearer abc\r\n"));
    EXPECT_THAT(r, HasSubstr("X-Api-Key: k-secret\r\n"));
  }
  ASSERT_EQ(second.requests().size(), 1u);
  EXPECT_THAT(second.requests()[0], HasSubstr("GET /next"));
  EXPECT_THAT(second.requests()[0], Not(HasSubstr("Authorization")));
  EXPECT_THAT(second.requests()[0], Not(HasSubstr("X-Api-Key")));

  // Credentials from the URL's userinfo stop at the origin too.
  req.headers.clear();
  req.url = "http://al%40ice:s3cret@127.0.0.1:" + std::to_string(first.port()) + "/start";
  EXPECT_EQ(ok_or_fail(perform(req)).body, "there");
  ASSERT_EQ(first.requests().size(), 3u);
  EXPECT_THAT(first.requests()[2], HasSubstr("Authorization: Basic YWxAaWNlOnMzY3JldA=="));
  ASSERT_EQ(second.requests().size(), 2u);
  EXPECT_THAT(second.requests()[1], Not(HasSubstr("Authorization")));
}

TEST(HttpClient, RedirectsAreBounded) {
  tiny_server server(tiny_server::replying(302, "", "Location: /loop\r\n"));
  request req;
  req.url = server.url("/loop");
  req.max_redirects = 3;
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::other);
  EXPECT_THAT(err.message, HasSubstr("Maximum (3) redirects"));
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(HttpClient, TheAddressHookCanRefuseAConnection) {
  tiny_server server(tiny_server::replying(200, "reached"));
  request req;
  req.url = server.url("/x");
  std::vector<std::string> seen;
  req.allow_address = [&seen](const sockaddr* addr, socklen_t, std::string* why) {
    if (addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
      seen.push_back(std::to_string(ntohl(in->sin_addr.s_addr) >> 24) + ":" +
                     std::to_string(ntohs(in->sin_port)));
    }
    *why = "loopback is not a source";
    return false;
  };
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::refused);
  EXPECT_THAT(err.message, HasSubstr("127.0.0.1"));
  EXPECT_THAT(err.message, HasSubstr("loopback is not a source"));
  EXPECT_EQ(seen, std::vector<std::string>{"127:" + std::to_string(server.port())});
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpClient, TheAddressHookSeesEveryHop) {
  tiny_server second(tiny_server::replying(200, "there"));
  tiny_server first(tiny_server::replying(302, "", "Location: " + second.url("/y") + "\r\n"));
  request req;
  req.url = first.url("/x");
  req.max_redirects = 2;
  std::vector<int> ports;
  req.allow_address = [&ports, refused = second.port()](const sockaddr* addr, socklen_t,
                                                        std::string*) {
    const int port = ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
    ports.push_back(port);
    return port != refused;
  };
  auto err = error_or_fail(perform(req));
  EXPECT_EQ(err.what, transport_error::code::refused);
  EXPECT_EQ(ports, (std::vector<int>{first.port(), second.port()}));
  EXPECT_TRUE(second.requests().empty());

  req.allow_address = [](const sockaddr*, socklen_t, std::string*) { return true; };
  EXPECT_EQ(ok_or_fail(perform(req)).body, "there");
}

/** Headers announcing 100 bytes, then one byte every 200 ms until the client goes. */
void trickle(int fd, const std::string&) {
  tiny_server::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (::send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
      return;
    }
  }
}

TEST(HttpClient, TheTotalTimeoutEndsATricklingResponse) {
  // Bytes keep coming, so the idle timeout never fires; the total limit does.
  tiny_server server(trickle);
  request req;
  req.url = server.url("/trickle");
  req.total_timeout = 1s;
  const auto start = std::chrono::steady_clock::now();
  auto err = error_or_fail(perform(req));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(err.what, transport_error::code::timeout);
  EXPECT_THAT(err.message, HasSubstr("total"));
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
}

TEST(HttpClient, TheLowSpeedLimitEndsASlowResponse) {
  tiny_server server(trickle);  // ~5 bytes/s
  request req;
  req.url = server.url("/trickle");
  req.total_timeout = 0ms;
  req.low_speed_limit = 1000;
  req.low_speed_time = 1s;
  const auto start = std::chrono::steady_clock::now();
  auto err = error_or_fail(perform(req));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(err.what, transport_error::code::timeout);
  EXPECT_THAT(err.message, HasSubstr("too slow"));
  EXPECT_LT(took, 4s);
}

TEST(HttpClient, AnExceptionFromTheSinkPropagates) {
  tiny_server server(tiny_server::replying(200, "body"));
  request req;
  req.url = server.url("/x");
  EXPECT_THROW(perform(req, [](long, std::string_view) -> bool { throw std::logic_error("sink"); }),
               std::logic_error);
}

TEST(HttpClient, HeadReturnsHeadersOnly) {
  tiny_server server([](int fd, const std::string&) {
    tiny_server::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n");
  });
  request req;
  req.method = "HEAD";
  req.url = server.url("/x");
  auto resp = ok_or_fail(perform(req));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("content-length"), "1000");
  EXPECT_TRUE(resp.body.empty());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_THAT(server.requests()[0], HasSubstr("HEAD /x HTTP/1.1"));
}

TEST(HttpClient, RedactUrl) {
  EXPECT_EQ(redact_url("https://user:pw@example.com:8443/a/b?token=x#frag"),
            "https://example.com:8443/a/b");
  EXPECT_EQ(redact_url("http://example.com/a@b"), "http://example.com/a@b");
  EXPECT_EQ(redact_url("http://example.com?x=1"), "http://example.com");
  EXPECT_EQ(redact_url("http://u@host"), "http://host");
  EXPECT_EQ(redact_url("not a url"), "not a url");
  EXPECT_EQ(redact_url(""), "");
}

}  // namespace
}  // namespace pdl::http_client
