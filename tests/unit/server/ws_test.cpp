#include "server/ws_session.hpp"

#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "shared/net.hpp"
#include "shared/rpc/rpc.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;

class ws_api : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_ = new shared_server();
    client_token_ = new std::string(mint(s_->port(), "client"));
    datasource_token_ = new std::string(mint(s_->port(), "datasource"));
  }
  static void TearDownTestSuite() {
    delete client_token_;
    delete datasource_token_;
    delete s_;
  }
  std::uint16_t port() { return s_->port(); }

  json publish(const std::string& body) {
    auto r = call(port(), "POST", "/data/config", *datasource_token_, body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  static shared_server* s_;
  static std::string* client_token_;
  static std::string* datasource_token_;
};
shared_server* ws_api::s_ = nullptr;
std::string* ws_api::client_token_ = nullptr;
std::string* ws_api::datasource_token_ = nullptr;

/** The status of a hand-made upgrade request (Beast 1.74's client does not hand back the
 *  response of a declined handshake). */
unsigned upgrade_status(std::uint16_t port, const std::string& token) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  tcp::resolver resolver(ioc);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::empty_body> req{http::verb::get, "/ws", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  if (!token.empty()) {
    req.set(http::field::authorization, "Bearer " + token);
  }
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  return res.result_int();
}

TEST_F(ws_api, upgrade_without_token_is_403) {
  ws_client c(port(), "");
  EXPECT_EQ(c.handshake_error(), websocket::error::upgrade_declined);
  EXPECT_EQ(upgrade_status(port(), ""), 403u);
}

TEST_F(ws_api, upgrade_with_a_bad_token_is_403) {
  EXPECT_EQ(upgrade_status(port(), none_token(standard_claims(600s))), 403u);
  EXPECT_EQ(upgrade_status(port(), *client_token_), 101u);
}

TEST_F(ws_api, ping_answers_pong_and_protocol_header_is_echoed) {
  ws_client c(port(), *client_token_);
  ASSERT_FALSE(c.handshake_error()) << c.handshake_error().message();
  EXPECT_EQ(c.handshake_response()[rpc::protocol_header], rpc::protocol_version);
  EXPECT_EQ(std::string(c.handshake_response()[rpc::log_id_header]).size(), 36u);
  auto id = c.call("_ping_", "{}");
  auto r = c.expect_response(id);
  EXPECT_EQ(r.result_json, R"("pong")");
  EXPECT_EQ(r.result_type, "str");
}

TEST_F(ws_api, unknown_method_answers_error_and_keeps_the_session) {
  ws_client c(port(), *client_token_);
  auto id = c.call("frobnicate", "{}");
  auto r = c.expect_response(id);
  EXPECT_EQ(r.result_json, "null");
  EXPECT_EQ(r.result_type, "error");
  c.send(rpc::encode_request("_secret_", "{}", "x"));  // ignored: no answer
  auto ping = c.call("_ping_", "{}");
  EXPECT_EQ(c.expect_response(ping).result_json, R"("pong")");
}

TEST_F(ws_api, update_on_two_subscribed_topics_arrives_once_with_seq) {
  ws_client c(port(), *client_token_);
  ASSERT_TRUE(c.subscribe({"users", "billing"}));
  json accepted = publish(good_update({"users", "billing"}));
  rpc::frame f = c.read();
  ASSERT_TRUE(f.req.has_value());
  EXPECT_EQ(f.req->method, "notify");
  json args = json::parse(f.req->arguments_json);
  EXPECT_EQ(args["subscription"]["topic"], "users");
  EXPECT_TRUE(args["subscription"]["notifier_id"].is_null());
  EXPECT_EQ(args["subscription"]["id"], args["subscription"]["subscriber_id"]);
  json data = args["data"];
  EXPECT_EQ(data["seq"], accepted["seq"]);
  EXPECT_EQ(data["id"], accepted["id"]);
  EXPECT_EQ(data["entries"][0]["topics"], json::array({"users", "billing"}));
  EXPECT_EQ(data["entries"][0]["data"], json::parse(R"({"x":1})"));
  // Nothing else was queued before the answer to this ping: the update came once.
  auto ping = c.call("_ping_", "{}");
  EXPECT_EQ(c.expect_response(ping).result_json, R"("pong")");
}

TEST_F(ws_api, hierarchical_topics_reach_parent_subscribers) {
  ws_client c(port(), *client_token_);
  ASSERT_TRUE(c.subscribe({"tenants"}));
  json accepted = publish(good_update({"tenants/acme"}));
  json args = json::parse(c.read().req->arguments_json);
  EXPECT_EQ(args["subscription"]["topic"], "tenants");
  EXPECT_EQ(args["data"]["entries"][0]["topics"], json::array({"tenants", "tenants/acme"}));
}

TEST_F(ws_api, subscribe_outside_permitted_topics_is_false_and_subscribes_nothing) {
  ws_client c(port(), mint(port(), "client", {{"permitted_topics", {"orders"}}}));
  EXPECT_FALSE(c.subscribe({"orders", "secrets"}));
  EXPECT_TRUE(c.subscribe({"orders/eu"}));
  publish(good_update({"orders"}));  // not delivered: "orders" itself was never subscribed
  json accepted = publish(good_update({"orders/eu"}));
  json args = json::parse(c.read().req->arguments_json);
  EXPECT_EQ(args["data"]["seq"], accepted["seq"]);
}

TEST_F(ws_api, client_token_may_not_publish_over_the_socket) {
  ws_client c(port(), *client_token_);
  std::uint64_t before = s_->ctx().updates->head();
  json args = {{"topics", {"users"}}, {"data", json::parse(good_update({"users"}))},
               {"sync", true}, {"notifier_id", nullptr}};
  auto id = c.call("publish", args.dump());
  auto r = c.expect_response(id);
  EXPECT_EQ(r.result_json, "false");
  EXPECT_EQ(r.result_type, "bool");
  EXPECT_EQ(s_->ctx().updates->head(), before);
  // OPAL clients' statistics publishes are accepted and ignored.
  json stats = {{"topics", {"__opal_stats_add"}}, {"data", {{"client_id", "c1"}}}};
  EXPECT_EQ(c.expect_response(c.call("publish", stats.dump())).result_json, "true");
  EXPECT_EQ(s_->ctx().updates->head(), before);
}

TEST_F(ws_api, datasource_publish_takes_the_http_path) {
  ws_client listener(port(), *client_token_);
  ASSERT_TRUE(listener.subscribe({"wspub"}));
  ws_client c(port(), *datasource_token_);
  json args = {{"topics", {"wspub"}}, {"data", json::parse(good_update({"wspub"}))}};
  EXPECT_EQ(c.expect_response(c.call("publish", args.dump())).result_json, "true");
  json n = json::parse(listener.read().req->arguments_json);
  EXPECT_EQ(n["data"]["seq"], s_->ctx().updates->head());
}

TEST_F(ws_api, a_session_that_never_reads_does_not_stall_the_others) {
  ws_client slow(port(), *client_token_);
  ASSERT_TRUE(slow.subscribe({"bulk"}));  // and never reads again
  ws_client fast(port(), *client_token_);
  ASSERT_TRUE(fast.subscribe({"bulk"}));

  std::mutex mu;
  std::vector<std::uint64_t> received;  // guarded by mu
  std::thread reader([&] {
    for (;;) {
      beast::error_code ec;
      auto f = fast.try_read(ec);
      if (!f) {
        return;
      }
      if (f->req && f->req->method == "notify") {
        json args = json::parse(f->req->arguments_json);
        std::lock_guard lock(mu);
        received.push_back(args["data"]["seq"].get<std::uint64_t>());
      }
    }
  });

  std::string payload = "\"" + std::string(512 * 1024, 'p') + "\"";
  std::vector<std::uint64_t> published;
  auto before = s_->ctx().stats.slow_sessions_closed.load();
  for (int i = 0; i < 200 && s_->ctx().stats.slow_sessions_closed.load() == before; ++i) {
    published.push_back(publish(good_update({"bulk"}, payload))["seq"].get<std::uint64_t>());
  }
  EXPECT_GT(s_->ctx().stats.slow_sessions_closed.load(), before);
  // The fast session gets every update, in order.
  bool all = pdl::test::poll_until(
      [&] {
        std::lock_guard lock(mu);
        return received.size() >= published.size();
      },
      20s);
  EXPECT_TRUE(all);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(received, published);
  }
  beast::error_code ec;
  fast.stream().next_layer().shutdown(tcp::socket::shutdown_both, ec);  // ends the reader
  reader.join();
}

TEST_F(ws_api, keep_alive_serves_several_http_requests_on_one_connection) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  tcp::resolver resolver(ioc);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port())));
  for (const char* path : {"/healthcheck", "/ready", "/nope"}) {
    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    EXPECT_EQ(res.result_int(), std::string(path) == "/nope" ? 404u : 200u) << path;
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(ws_api, oversized_headers_are_refused) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  tcp::resolver resolver(ioc);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port())));
  http::request<http::empty_body> req{http::verb::get, "/healthcheck", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set("X-Big", std::string(s_->ctx().cfg.max_header_bytes + 10, 'h'));
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  EXPECT_EQ(res.result_int(), 431u);
}

TEST(ws_shutdown, stop_closes_sessions_with_going_away) {
  pem_pair keys = make_pem_pair();
  auto srv = server::start(test_config(keys));
  ws_client c(srv->port(), mint(srv->port(), "client"));
  ASSERT_TRUE(c.subscribe({"x"}));
  pdl::test::poll_until([&] { return srv->context().subscriptions.session_count() == 1; }, 5s);
  std::thread stopper([&] { srv->stop(); });
  beast::error_code ec;
  auto f = c.try_read(ec);
  stopper.join();
  EXPECT_FALSE(f.has_value());
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(c.stream().reason().code, websocket::close_code::going_away);
}

}  // namespace
}  // namespace pdl::server
