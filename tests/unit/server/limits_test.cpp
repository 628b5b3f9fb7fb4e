#include "server/http_listener.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "shared/net.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;

class limits : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = new pem_pair(make_pem_pair());
    auto cfg = test_config(*keys_);
    cfg.http_read_timeout = 2s;
    cfg.max_connections = 3;
    cfg.external_source_url = "https://config.example.com/opal";
    srv_ = server::start(cfg).release();
  }
  static void TearDownTestSuite() {
    delete srv_;
    delete keys_;
  }
  static pem_pair* keys_;
  static server* srv_;
};
pem_pair* limits::keys_ = nullptr;
server* limits::srv_ = nullptr;

TEST_F(limits, a_slow_client_is_cut_off_by_the_read_timeout) {
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), srv_->port()});
  net::write(sock, net::buffer(std::string("GET /healthcheck HTTP/1.1\r\nHost: x\r\n")));
  // Never finishes the headers: the server must close the connection on its own.
  char byte = 0;
  beast::error_code ec;
  std::size_t n = sock.read_some(net::buffer(&byte, 1), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, net::error::eof);
}

TEST_F(limits, connections_over_the_limit_are_refused_and_others_still_served) {
  // The previous test's connection may still be counted for a moment after the server closed
  // it (the slot is given back when its coroutine ends): start from an empty server.
  ASSERT_TRUE(pdl::test::poll_until(
      [&] { return srv_->context().stats.open_connections.load() == 0; }, 5s));
  net::io_context ioc;
  std::vector<tcp::socket> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back(ioc);
    held.back().connect({net::ip::make_address("127.0.0.1"), srv_->port()});
  }
  ASSERT_TRUE(pdl::test::poll_until(
      [&] { return srv_->context().stats.open_connections.load() == 3; }, 5s));
  auto refused_before = srv_->context().stats.connections_refused.load();
  tcp::socket extra(ioc);
  extra.connect({net::ip::make_address("127.0.0.1"), srv_->port()});
  char byte = 0;
  beast::error_code ec;
  extra.read_some(net::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_GT(srv_->context().stats.connections_refused.load(), refused_before);
  held.clear();
  ASSERT_TRUE(pdl::test::poll_until(
      [&] { return srv_->context().stats.open_connections.load() == 0; }, 5s));
  EXPECT_EQ(call(srv_->port(), "GET", "/healthcheck").status, 200);
}

TEST_F(limits, a_slow_loris_is_cut_off_by_the_read_timeout_while_others_are_served) {
  net::io_context ioc;
  tcp::socket loris(ioc);
  loris.connect({net::ip::make_address("127.0.0.1"), srv_->port()});
  const std::string header = "GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghij\r\n\r\n";
  std::atomic<std::size_t> sent{0};
  std::atomic<bool> cut{false};
  // One header byte per second: the read timeout is a deadline for the whole header, so the
  // trickle does not extend it.
  std::thread trickle([&] {
    for (char c : header) {
      beast::error_code ec;
      net::write(loris, net::buffer(&c, 1), ec);
      if (ec) {
        break;
      }
      ++sent;
      if (pdl::test::poll_until([&] { return cut.load(); }, 1000ms)) {
        break;
      }
    }
  });
  // Ends the trickle on every way out of the test, a failed assertion or exception included.
  struct stop_trickle {
    std::atomic<bool>& cut;
    std::thread& t;
    ~stop_trickle() {
      cut = true;
      if (t.joinable()) t.join();
    }
  } guard{cut, trickle};
  int served = 0;
  for (int i = 0; i < 5; ++i) {
    // Each call closes its connection; the server may not have counted that close yet when the
    // next one comes (limit 3: the loris + one + the closing one), so a refusal is retried.
    served += pdl::test::poll_until([&] {
                try {
                  return call(srv_->port(), "GET", "/healthcheck").status == 200;
                } catch (const std::runtime_error&) {
                  return false;
                }
              }, 5000ms) ? 1 : 0;
  }
  EXPECT_EQ(served, 5);
  char byte = 0;
  beast::error_code ec;
  std::size_t n = loris.read_some(net::buffer(&byte, 1), ec);  // the server closes on its own
  cut = true;
  trickle.join();
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_LT(sent.load(), header.size());
}

TEST_F(limits, idle_connections_past_the_limit_are_refused_while_existing_ones_keep_working) {
  net::io_context ioc;
  // One working keep-alive connection and two idle ones fill the limit of 3.
  beast::tcp_stream working(ioc);
  working.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), srv_->port()});
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 2; ++i) {
    idle.emplace_back(ioc);
    idle.back().connect({net::ip::make_address("127.0.0.1"), srv_->port()});
  }
  ASSERT_TRUE(pdl::test::poll_until(
      [&] { return srv_->context().stats.open_connections.load() == 3; }, 5s));
  auto refused_before = srv_->context().stats.connections_refused.load();
  for (int i = 0; i < 5; ++i) {
    tcp::socket extra(ioc);
    extra.connect({net::ip::make_address("127.0.0.1"), srv_->port()});
    char byte = 0;
    beast::error_code ec;
    extra.read_some(net::buffer(&byte, 1), ec);
    EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  }
  EXPECT_EQ(srv_->context().stats.connections_refused.load(), refused_before + 5);
  http::request<http::empty_body> req{http::verb::get, "/healthcheck", 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(working, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(working, buf, res);
  EXPECT_EQ(res.result_int(), 200u);
  idle.clear();
}

TEST_F(limits, external_base_config_is_a_redirect_without_the_token) {
  std::string token = mint(srv_->port(), "client");
  auto r = call(srv_->port(), "GET", "/data/config", token);
  EXPECT_EQ(r.status, 307);
  std::string location = r.raw.header("location").value_or("");
  EXPECT_EQ(location, "https://config.example.com/opal");
  EXPECT_EQ(location.find(token), std::string::npos);
}

TEST(port_file, is_written_atomically_with_a_newline) {
  pdl::test::temp_dir dir;
  write_port_file(dir.file("port"), 7002);
  EXPECT_EQ(pdl::test::read_file(dir.file("port")), "7002\n");
}

}  // namespace
}  // namespace pdl::server
