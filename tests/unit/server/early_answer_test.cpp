#include "server/http_listener.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"

// Issue 9, point 4: an answer given before the body is read (413, 431, 400, 401) reaches a
// client that writes its whole body before reading anything, as Python's urllib and most SDKs
// do. The client here is a plain blocking POSIX socket, as such a client is: it writes the
// head and all of a 64 MiB body, and reads only then.

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::size_t mib = 1024 * 1024;
constexpr std::size_t big_body = 64 * mib;

struct raw_answer {
  int status = 0;
  std::string head;
  std::string body;
  bool complete = false;           // the whole Content-Length was read
  std::string write_error;         // empty: every byte of the request was written
  std::string after;               // what reading past the answer gave: "eof", "reset", ...
};

/** A blocking socket client that writes everything, then reads. Send and receive time-outs
 *  keep a broken server from hanging the test. */
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  /** Writes all of @p data; "" or the error. */
  std::string write_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return std::strerror(errno);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  /** Writes @p head, then @p body_bytes of body (1 MiB at a time, or as chunks when
   *  @p chunked), then reads one answer, and with @p read_past what follows it (only when the
   *  server knows where the request ends: else it waits for our close, as we for its). */
  raw_answer exchange(const std::string& head, std::size_t body_bytes, bool chunked = false,
                      bool read_past = true) {
    raw_answer a;
    a.write_error = write_all(head);
    const std::string block(mib, 'x');
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", block.size());
    for (std::size_t sent = 0; a.write_error.empty() && sent < body_bytes; sent += block.size()) {
      if (chunked) {
        a.write_error = write_all(size_line);
      }
      if (a.write_error.empty()) {
        a.write_error = write_all(block);
      }
      if (chunked && a.write_error.empty()) {
        a.write_error = write_all("\r\n");
      }
    }
    if (chunked && a.write_error.empty()) {
      a.write_error = write_all("0\r\n\r\n");
    }
    read_answer(a, read_past);
    return a;
  }

 private:
  void read_answer(raw_answer& a, bool read_past) {
    std::string in;
    std::optional<std::size_t> body_at;
    std::size_t length = 0;
    char buf[4096];
    for (;;) {
      if (!body_at) {
        if (auto end = in.find("\r\n\r\n"); end != std::string::npos) {
          body_at = end + 4;
          a.head = in.substr(0, end);
          a.status = std::atoi(a.head.substr(9, 3).c_str());
          auto cl = lower(a.head).find("content-length:");
          length = cl == std::string::npos ? 0 : std::stoul(a.head.substr(cl + 15));
        }
      }
      if (body_at && in.size() >= *body_at + length) {
        a.body = in.substr(*body_at, length);
        a.complete = true;
        in.erase(0, *body_at + length);
        break;
      }
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        a.after = n == 0 ? "eof (answer incomplete)" : std::strerror(errno);
        return;
      }
      in.append(buf, static_cast<std::size_t>(n));
    }
    if (!in.empty()) {
      a.after = "extra bytes";
      return;
    }
    if (!read_past) {
      return;
    }
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    a.after = n == 0 ? "eof" : n > 0 ? "extra bytes" : std::strerror(errno);
  }

  static std::string lower(std::string s) {
    for (auto& c : s) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
  }

  int fd_ = -1;
};

std::string post_head(const std::string& path, const std::string& token,
                      std::optional<std::size_t> length, const std::string& extra = "") {
  std::string h = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) {
    h += "Authorization: Bearer " + token + "\r\n";
  }
  h += "Content-Type: application/json\r\n";
  h += length ? "Content-Length: " + std::to_string(*length) + "\r\n"
              : "Transfer-Encoding: chunked\r\n";
  return h + extra + "\r\n";
}

void expect_error_answer(const raw_answer& a, int status, const std::string& message_part) {
  EXPECT_EQ(a.write_error, "") << "the client could not write its whole request";
  ASSERT_TRUE(a.complete) << "no complete answer: " << a.after;
  EXPECT_EQ(a.status, status) << a.head;
  json body = json::parse(a.body);  // JSON, in the usual {"detail":{"error":...}} shape
  EXPECT_NE(body["detail"]["error"].get<std::string>().find(message_part), std::string::npos)
      << a.body;
  EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
}

/** max_body_bytes 1 MiB (test_config): a 64 MiB body is far over it. */
class early_answers : public server_suite {
 protected:
  static std::int64_t open_connections() { return s_->ctx().stats.open_connections.load(); }
  void TearDown() override {
    // Every lingering connection ends: nothing is left holding a slot.
    EXPECT_TRUE(pdl::test::poll_until([] { return open_connections() == 0; }, 10s))
        << open_connections();
  }
};

TEST_F(early_answers, an_announced_body_over_the_limit_gets_its_413_after_the_client_wrote_it) {
  auto start = std::chrono::steady_clock::now();
  raw_client c(port());
  auto a = c.exchange(post_head("/data/config", *datasource_, big_body), big_body);
  expect_error_answer(a, 413, "larger than");
  // The server read the whole announced body, then closed: a clean end, not a reset.
  EXPECT_EQ(a.after, "eof");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
}

TEST_F(early_answers, a_chunked_body_over_the_limit_gets_its_413_after_the_client_wrote_it) {
  raw_client c(port());
  auto a = c.exchange(post_head("/data/config", *datasource_, std::nullopt), big_body, true,
                      false);
  expect_error_answer(a, 413, "larger than");
}

TEST_F(early_answers, headers_over_the_limit_get_431_after_the_client_wrote_its_body) {
  raw_client c(port());
  std::string huge_header = "X-Padding: " + std::string(32 * 1024, 'h') + "\r\n";
  auto a = c.exchange(post_head("/data/config", *datasource_, big_body, huge_header), big_body,
                      false, false);
  expect_error_answer(a, 431, "headers larger than");
}

TEST_F(early_answers, a_malformed_request_gets_400_after_the_client_wrote_its_body) {
  raw_client c(port());
  // A space in a field name: the head is refused before the body is looked at.
  auto a = c.exchange(post_head("/data/config", *datasource_, big_body, "Bad Field: x\r\n"),
                      big_body, false, false);
  expect_error_answer(a, 400, "malformed HTTP request");
}

/** max_body_bytes above 64 MiB: the body is within the limit, the caller is not allowed. */
class early_refusals : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = std::make_unique<pem_pair>(make_pem_pair());
    auto cfg = test_config(*keys_);
    cfg.max_body_bytes = 96 * mib;
    srv_ = server::start(cfg);
  }
  static void TearDownTestSuite() {
    srv_.reset();
    keys_.reset();
  }
  void TearDown() override {
    EXPECT_TRUE(pdl::test::poll_until(
        [] { return srv_->context().stats.open_connections.load() == 0; }, 10s));
  }
  static std::uint16_t port() { return srv_->port(); }

  static inline std::unique_ptr<pem_pair> keys_;
  static inline std::unique_ptr<server> srv_;
};

TEST_F(early_refusals, a_large_body_without_a_token_gets_401_before_it_is_read) {
  auto refused_before = srv_->context().stats.refused_total();
  raw_client c(port());
  auto a = c.exchange(post_head("/data/config", "", big_body), big_body);
  expect_error_answer(a, 401, "access token was not provided");
  EXPECT_NE(a.head.find("WWW-Authenticate: Bearer"), std::string::npos) << a.head;
  EXPECT_EQ(a.after, "eof");
  EXPECT_EQ(srv_->context().stats.refused_total(), refused_before + 1);  // counted once
}

TEST_F(early_refusals, a_large_body_with_an_invalid_token_gets_401_before_it_is_read) {
  raw_client c(port());
  auto a = c.exchange(post_head("/data/config", "not.a.jwt", big_body), big_body);
  expect_error_answer(a, 401, "");
  EXPECT_EQ(a.after, "eof");
}

TEST_F(early_refusals, a_large_token_request_without_the_master_token_gets_401) {
  raw_client c(port());
  auto a = c.exchange(post_head("/token", "wrong-master", big_body), big_body);
  expect_error_answer(a, 401, "unauthorized");
}

TEST_F(early_refusals, a_small_body_is_still_checked_by_the_handler_alone) {
  // Control: the same refusal for a body under the early-check size, read first.
  auto r = call(port(), "POST", "/data/config", "", good_update());
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json()["detail"]["error"], "access token was not provided");
}

}  // namespace
}  // namespace pdl::server
