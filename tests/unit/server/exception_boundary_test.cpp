#include "server/routes.hpp"

#include <iostream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>

#include "server/http_listener.hpp"
#include "tests/unit/server/forwarding_log.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

// Issue 9, point 3: no exception escapes a handler. A handler that throws answers 500 with the
// usual error shape and one log line; the connection's slot and tracking are given back (more
// times than max_connections, so a leak would lock everyone out); a WebSocket message whose
// handling throws is logged and left unanswered, the session lives on.

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;

const json internal_error = json::parse(R"({"detail":{"error":"internal server error"}})");

http_reply throws_runtime_error(server_context&, const http_request&) {
  throw std::runtime_error("injected handler failure");
}

http_reply throws_an_int(server_context&, const http_request&) { throw 42; }

/** nlohmann's parse errors quote the input they stopped at ("last read: '...'"). */
http_reply throws_parsing_the_body(server_context&, const http_request& req) {
  return http_reply::json(200, nlohmann::json::parse(req.body).dump());
}

/** Every log line, kept in memory (read under the sink's lock: server threads write). */
class line_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    lines_.push_back(fmt::to_string(buf));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

/** Captures every log line while alive (all loggers share one sink). */
class captured_log {
 public:
  captured_log() { log::use_sink(sink_); }
  ~captured_log() { log::use_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cerr)); }
  std::vector<std::string> lines_with(const std::string& needle) const {
    std::vector<std::string> found;
    for (auto& line : sink_->lines()) {
      if (line.find(needle) != std::string::npos) {
        found.push_back(line);
      }
    }
    return found;
  }
  std::string all() const {
    std::string out;
    for (auto& line : sink_->lines()) {
      out += line;
    }
    return out;
  }

 private:
  std::shared_ptr<line_sink> sink_ = std::make_shared<line_sink>();
};

/** The real listener over a context whose route table has test-only routes that throw (no
 *  production hook: the table is plain data until the listener starts). */
class handler_boundary : public ::testing::Test {
 protected:
  static constexpr std::size_t max_connections = 3;

  static void SetUpTestSuite() {
    keys_ = std::make_unique<pem_pair>(make_pem_pair());
    auto cfg = test_config(*keys_);
    cfg.max_connections = max_connections;
    ctx_ = make_server_context(cfg);
    ctx_->routes.push_back({"GET", "/test/throw", throws_runtime_error, {}});
    ctx_->routes.push_back({"POST", "/test/parse", throws_parsing_the_body, {}});
    ctx_->routes.push_back({"GET", "/test/throw-int", throws_an_int, {}});
    ioc_ = std::make_unique<net::io_context>(2);
    listener_ = http_listener::open(*ctx_, *ioc_);
    listener_->start();
    ctx_->listening = true;
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([] { ioc_->run(); });
    }
  }
  static void TearDownTestSuite() {
    listener_->stop();
    pdl::test::poll_until([] { return ctx_->stats.open_connections.load() == 0; }, 5s);
    ioc_->stop();
    for (auto& t : threads_) {
      t.join();
    }
    threads_.clear();
    listener_.reset();
    ioc_.reset();
    ctx_.reset();
    keys_.reset();
  }

  static std::uint16_t port() { return listener_->port(); }
  static std::int64_t open_connections() { return ctx_->stats.open_connections.load(); }

  static inline std::unique_ptr<pem_pair> keys_;
  static inline std::unique_ptr<server_context> ctx_;
  static inline std::unique_ptr<net::io_context> ioc_;
  static inline std::unique_ptr<http_listener> listener_;
  static inline std::vector<std::thread> threads_;
};

TEST_F(handler_boundary, dispatch_turns_any_exception_into_a_500_with_the_reason_kept_for_the_log) {
  http_request req;
  req.method = "GET";
  req.path = req.target = "/test/throw";
  http_reply r = dispatch(*ctx_, req);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body), internal_error);
  EXPECT_NE(r.log_detail.find("injected handler failure"), std::string::npos) << r.log_detail;
  EXPECT_EQ(r.body.find("injected"), std::string::npos);  // the reason is not sent

  req.path = req.target = "/test/throw-int";
  r = dispatch(*ctx_, req);
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.log_detail.find("unknown type"), std::string::npos) << r.log_detail;

  req.path = req.target = "/healthcheck";
  EXPECT_EQ(dispatch(*ctx_, req).status, 200);
  EXPECT_TRUE(dispatch(*ctx_, req).log_detail.empty());
}

TEST_F(handler_boundary, a_throwing_handler_answers_500_and_gives_its_connection_slot_back) {
  ASSERT_TRUE(pdl::test::poll_until([] { return open_connections() == 0; }, 5s));
  captured_log log;
  // Three times the limit: a leaked slot per request would refuse everyone by the fourth.
  constexpr std::size_t rounds = 3 * max_connections;
  const std::string body_text = "body-that-must-not-be-logged";
  const std::string broken_json = R"({"password": ")" + body_text;
  for (std::size_t i = 0; i < rounds; ++i) {
    auto r = i % 3 == 0   ? call(port(), "GET", "/test/throw")
             : i % 3 == 1 ? call(port(), "POST", "/test/parse", master_token, broken_json)
                          : call(port(), "GET", "/test/throw-int");
    EXPECT_EQ(r.status, 500) << i;
    EXPECT_EQ(r.json(), internal_error) << r.body;
    EXPECT_TRUE(pdl::test::poll_until([] { return open_connections() == 0; }, 5s))
        << "round " << i << ": " << open_connections() << " connections still counted";
  }
  EXPECT_EQ(call(port(), "GET", "/healthcheck").status, 200);
  EXPECT_EQ(ctx_->stats.connections_refused.load(), 0u);
  // Exactly one line per failed request, naming the route and the reason, and nothing of the
  // request's body or credentials.
  EXPECT_EQ(log.lines_with("/test/").size(), rounds) << log.all();
  EXPECT_EQ(log.lines_with("injected handler failure").size(), rounds / 3) << log.all();
  EXPECT_EQ(log.lines_with("POST /test/parse").size(), rounds / 3) << log.all();
  EXPECT_EQ(log.lines_with("unknown type").size(), rounds / 3) << log.all();
  EXPECT_EQ(log.all().find(body_text), std::string::npos) << log.all();
  EXPECT_EQ(log.all().find(master_token), std::string::npos) << log.all();
}

TEST_F(handler_boundary, a_keep_alive_connection_goes_on_after_a_500) {
  net::io_context ioc;
  beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port()});
  beast::flat_buffer buf;
  for (const char* target : {"/test/throw", "/healthcheck", "/test/throw-int", "/healthcheck"}) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.result_int(), std::string_view(target) == "/healthcheck" ? 200u : 500u);
    EXPECT_TRUE(res.keep_alive()) << target;
  }
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  s.close();
  EXPECT_TRUE(pdl::test::poll_until([] { return open_connections() == 0; }, 5s));
}

// ---- through the real server: an update log that throws what nobody expects ----------------

/** A memory log whose append() can be made to throw a plain std::runtime_error (not the
 *  update_log_error the intake handles). */
class throwing_log final : public testing::forwarding_log {
 public:
  throwing_log() : forwarding_log(1000) {}
  std::atomic<bool> armed{false};
  std::uint64_t append(const model::data_update& u) override {
    if (armed) {
      throw std::runtime_error("injected: the disk is on fire");
    }
    return forwarding_log::append(u);
  }
};

class unexpected_exceptions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = std::make_unique<pem_pair>(make_pem_pair());
    auto log = std::make_unique<throwing_log>();
    log_ = log.get();
    auto cfg = test_config(*keys_);
    cfg.max_connections = 4;
    srv_ = server::start(cfg, std::move(log));
    datasource_ = mint(srv_->port(), "datasource");
  }
  static void TearDownTestSuite() {
    srv_.reset();
    keys_.reset();
  }
  void TearDown() override { log_->armed = false; }

  static std::uint16_t port() { return srv_->port(); }
  static server_context& ctx() { return srv_->context(); }

  static inline std::unique_ptr<pem_pair> keys_;
  static inline std::unique_ptr<server> srv_;
  static inline throwing_log* log_ = nullptr;
  static inline std::string datasource_;
};

TEST_F(unexpected_exceptions, a_publish_that_throws_over_http_is_a_500_and_the_server_carries_on) {
  ASSERT_TRUE(pdl::test::poll_until([] { return ctx().stats.open_connections.load() == 0; }, 5s));
  log_->armed = true;
  for (int i = 0; i < 10; ++i) {  // more than max_connections
    auto r = call(port(), "POST", "/data/config", datasource_, good_update());
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_EQ(r.json(), internal_error);
  }
  EXPECT_TRUE(
      pdl::test::poll_until([] { return ctx().stats.open_connections.load() == 0; }, 5s));
  log_->armed = false;
  EXPECT_EQ(call(port(), "POST", "/data/config", datasource_, good_update()).status, 200);
}

TEST_F(unexpected_exceptions, a_websocket_publish_that_throws_is_logged_and_the_session_lives_on) {
  captured_log log;
  {
    ws_client ws(port(), datasource_, ws_client::protocol1("agent-boundary"));
    ASSERT_FALSE(ws.handshake_error()) << ws.handshake_error().message();
    ASSERT_TRUE(pdl::test::poll_until([] { return ctx().sessions.size() == 1; }, 5s));
    json args = {{"topics", {"policy_data"}}, {"data", json::parse(good_update())}};
    log_->armed = true;
    // The store throws on the publish pool: the publish is answered false, and logged.
    auto bad = ws.call("publish", args.dump());
    EXPECT_EQ(ws.expect_response(bad).result_json, "false");
    log_->armed = false;
    // The next answer on the socket is the ping's: the session is alive and in order.
    auto ping = ws.call("_ping_", "{}");
    EXPECT_EQ(ws.expect_response(ping).result_json, R"("pong")");
    auto ok = ws.call("publish", args.dump());
    EXPECT_EQ(ws.expect_response(ok).result_json, "true");
    EXPECT_EQ(ctx().sessions.size(), 1u);
    EXPECT_EQ(ctx().stats.open_sessions.load(), 1);
  }
  // Closing gives back the registry entry, the session count and the connection.
  EXPECT_TRUE(pdl::test::poll_until([] { return ctx().sessions.size() == 0; }, 5s));
  EXPECT_TRUE(pdl::test::poll_until([] { return ctx().stats.open_sessions.load() == 0; }, 5s));
  EXPECT_TRUE(
      pdl::test::poll_until([] { return ctx().stats.open_connections.load() == 0; }, 5s));
  auto lines = log.lines_with("the disk is on fire");
  ASSERT_EQ(lines.size(), 1u) << log.all();  // one line for the failure, nothing else
  EXPECT_NE(lines[0].find("publish failed"), std::string::npos) << lines[0];
  EXPECT_TRUE(log.lines_with("publish refused").empty()) << log.all();
}

}  // namespace
}  // namespace pdl::server
