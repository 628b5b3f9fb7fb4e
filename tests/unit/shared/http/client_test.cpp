#include "shared/http/client.hpp"

#include <cctype>
#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/shared/http/tiny_server.hpp"

namespace pdl::http_client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pdl::test::tiny_server;
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
