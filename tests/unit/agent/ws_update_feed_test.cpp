#include "agent/ws_update_feed.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shared/config/config_error.hpp"
#include "shared/net.hpp"
#include "shared/rpc/rpc.hpp"
#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

/** A scripted OPAL-like server on the test's io_context. */
struct script_server {
  explicit script_server(net::io_context& ioc)
      : ioc(ioc), acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }

  void start() {
    net::co_spawn(ioc, run(), [](std::exception_ptr) {});
  }

  net::awaitable<void> run() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket sock(ioc);
      co_await acceptor.async_accept(sock, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        co_return;
      }
      ++connections;
      co_await serve(std::move(sock));
    }
  }

  net::awaitable<void> serve(tcp::socket sock) {
    boost::system::error_code ec;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    co_await http::async_read(sock, buf, req, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      co_return;
    }
    auth = std::string(req[http::field::authorization]);
    protocol = std::string(req[rpc::protocol_header]);
    agent_id = std::string(req["X-PDL-Agent-Id"]);
    target = std::string(req.target());
    websocket::stream<tcp::socket> ws(std::move(sock));
    ws.set_option(websocket::stream_base::decorator([echo = echo](websocket::response_type& r) {
      if (echo) {
        r.set(rpc::protocol_header, rpc::protocol_version);
      }
    }));
    co_await ws.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      co_return;
    }
    for (;;) {
      beast::flat_buffer b;
      co_await ws.async_read(b, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::closed) {
          close_code = ws.reason().code;
        }
        co_return;
      }
      const auto f = rpc::decode(beast::buffers_to_string(b.data()));
      if (f.resp) {
        responses.push_back(*f.resp);
        continue;
      }
      requests.push_back(*f.req);
      if (f.req->method == "_ping_") {
        co_await ws.async_write(net::buffer(rpc::encode_response("\"pong\"", "str",
                                                                 f.req->call_id)),
                                net::use_awaitable);
      } else if (f.req->method == "subscribe") {
        co_await ws.async_write(
            net::buffer(rpc::encode_response(subscribe_result ? "true" : "false", "bool",
                                             f.req->call_id)),
            net::use_awaitable);
        if (!subscribe_result) {
          continue;
        }
        if (silent_after_subscribe) {
          // A server that hangs: it neither reads nor answers pings any more.
          silence.expires_after(std::chrono::seconds(60));
          co_await silence.async_wait(net::redirect_error(net::use_awaitable, ec));
          co_return;
        }
        for (const auto& data : notifies) {
          co_await ws.async_write(
              net::buffer(rpc::encode_request(
                  "notify", rpc::encode_notify_arguments("s1", "sub1", "policy_data", data),
                  rpc::new_call_id())),
              net::use_awaitable);
        }
        for (int i = 0; i < 2; ++i) {
          co_await ws.async_write(
              net::buffer(rpc::encode_request("_get_channel_id_", "{}", rpc::new_call_id())),
              net::use_awaitable);
        }
      }
    }
  }

  net::io_context& ioc;
  tcp::acceptor acceptor;
  net::steady_timer silence{ioc};
  bool echo = true;
  bool silent_after_subscribe = false;
  std::string agent_id;
  bool subscribe_result = true;
  std::vector<std::string> notifies;
  int connections = 0;
  std::string auth, protocol, target;
  std::vector<rpc::request> requests;
  std::vector<rpc::response> responses;
  std::optional<std::uint16_t> close_code;
};

ws_feed_options options_for(const script_server& s) {
  ws_feed_options o;
  o.server_urls = {s.url()};
  o.token = secret("client-token");
  o.topics = {"policy_data", "billing"};
  o.reconnect_min = 5ms;
  o.reconnect_max = 20ms;
  o.ping_interval = std::chrono::seconds(0);
  o.connect_timeout = 2000ms;
  o.backoff_seed = 5;
  return o;
}

constexpr const char* update_json =
    R"({"id":"u1","entries":[{"url":"","config":null,"topics":["policy_data"],"dst_path":"/users","save_method":"PUT","data":{"a":1}}],"reason":"r","callback":{"callbacks":[]}})";

TEST(ws_update_feed, handshake_subscribe_notify_and_channel_id) {
  net::io_context ioc;
  script_server server(ioc);
  server.notifies = {update_json};
  server.start();
  auto feed = std::make_unique<ws_update_feed>(ioc, options_for(server));
  std::optional<feed_connection_info> connected;
  std::vector<model::data_update> updates;
  feed->start(feed_handlers{[&](const feed_connection_info& i) { connected = i; },
                            [&](model::data_update u, const std::string&) {
                              updates.push_back(std::move(u));
                            },
                            [](const std::string&) {}, {}, {}});
  ASSERT_TRUE(run_until(ioc, [&] { return server.responses.size() >= 3; }));
  EXPECT_EQ(server.auth, "Bearer client-token");
  EXPECT_EQ(server.protocol, "1");
  EXPECT_EQ(server.target, "/ws");
  ASSERT_TRUE(connected.has_value());
  EXPECT_TRUE(connected->protocol_echoed);
  EXPECT_TRUE(feed->protocol_echoed());
  ASSERT_EQ(server.requests.size(), 2u);
  EXPECT_EQ(server.requests[0].method, "_ping_");
  EXPECT_EQ(server.requests[1].method, "subscribe");
  EXPECT_EQ(rpc::decode_topics_arguments(server.requests[1].arguments_json),
            (std::vector<std::string>{"policy_data", "billing"}));
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].id, std::optional<std::string>("u1"));
  EXPECT_EQ(updates[0].entries.at(0).dst_path, "/users");
  EXPECT_EQ(server.responses[0].result_json, "\"None\"");
  EXPECT_EQ(server.responses[0].result_type, "str");
  EXPECT_EQ(server.responses[1].result_json, server.responses[2].result_json);  // stable id
  EXPECT_GT(server.responses[1].result_json.size(), 2u);

  feed->stop();
  ASSERT_TRUE(run_until(ioc, [&] { return server.close_code.has_value(); }));
  EXPECT_EQ(*server.close_code, static_cast<std::uint16_t>(websocket::close_code::going_away));
  server.acceptor.close();
  ioc.restart();
  ioc.run_for(2s);
  EXPECT_TRUE(ioc.stopped());  // the feed's task ended
}

TEST(ws_update_feed, refused_subscription_is_an_error_and_retried) {
  net::io_context ioc;
  script_server server(ioc);
  server.subscribe_result = false;
  server.start();
  auto feed = std::make_unique<ws_update_feed>(ioc, options_for(server));
  std::vector<std::string> reasons;
  bool connected = false;
  feed->start(feed_handlers{[&](const feed_connection_info&) { connected = true; },
                            [](model::data_update, const std::string&) {},
                            [&](const std::string& r) { reasons.push_back(r); }, {}, {}});
  ASSERT_TRUE(run_until(ioc, [&] { return server.connections >= 2; }));
  EXPECT_FALSE(connected);
  ASSERT_FALSE(reasons.empty());
  EXPECT_NE(reasons[0].find("subscription refused"), std::string::npos);
  feed->stop();
  server.acceptor.close();
  ioc.restart();
  ioc.run_for(2s);
  EXPECT_TRUE(ioc.stopped());
}

TEST(ws_update_feed, falls_back_to_the_next_server_url) {
  net::io_context ioc;
  script_server server(ioc);
  server.start();
  auto o = options_for(server);
  // Nothing listens on port 1; the second URL is the working one.
  o.server_urls = {"http://127.0.0.1:1", server.url()};
  o.current_server = std::make_shared<std::atomic<std::size_t>>(7);
  ws_update_feed feed(ioc, o);
  std::optional<feed_connection_info> connected;
  feed.start(feed_handlers{[&](const feed_connection_info& i) { connected = i; },
                           [](model::data_update, const std::string&) {},
                           [](const std::string&) {}, {}, {}});
  ASSERT_TRUE(run_until(ioc, [&] { return connected.has_value(); }));
  EXPECT_EQ(connected->server_index, 1u);
  EXPECT_EQ(o.current_server->load(), 1u);  // where the agent downloads blobs from
  feed.stop();
  server.acceptor.close();
  ioc.restart();
  ioc.run_for(2s);
}

feed_handlers handlers_for(std::optional<feed_connection_info>& connected,
                           std::vector<std::string>& reasons) {
  feed_handlers h;
  h.on_connected = [&connected](const feed_connection_info& i) { connected = i; };
  h.on_update = [](model::data_update, const std::string&) {};
  h.on_disconnected = [&reasons](const std::string& r) { reasons.push_back(r); };
  return h;
}

void finish(net::io_context& ioc, ws_update_feed& feed, script_server& server) {
  feed.stop();
  server.silence.cancel();
  server.acceptor.close();
  ioc.restart();
  ioc.run_for(std::chrono::seconds(3));
  EXPECT_TRUE(ioc.stopped());
}

TEST(ws_update_feed, resumes_with_after_seq_sends_its_id_and_acknowledges) {
  net::io_context ioc;
  script_server server(ioc);
  server.start();
  auto o = options_for(server);
  o.agent_id = "pod-a-1234";
  ws_update_feed feed(ioc, o);
  // Acknowledgements queued before the connection wait for it.
  feed.acknowledge(applied_ack{"u1", 41, true, {}});
  std::optional<feed_connection_info> connected;
  std::vector<std::string> reasons;
  auto h = handlers_for(connected, reasons);
  h.resume_after = [] { return std::uint64_t{41}; };
  feed.start(std::move(h));
  ASSERT_TRUE(run_until(ioc, [&] { return connected.has_value(); }));
  feed.acknowledge(applied_ack{"u2", 42, false, {"/users: fetch failed: HTTP 401"}});
  ASSERT_TRUE(run_until(ioc, [&] { return server.requests.size() == 4; }));
  EXPECT_EQ(server.agent_id, "pod-a-1234");
  const auto sub = nlohmann::json::parse(server.requests[1].arguments_json);
  EXPECT_EQ(sub["after_seq"], 41);
  EXPECT_EQ(sub["topics"], nlohmann::json::array({"policy_data", "billing"}));
  EXPECT_EQ(server.requests[2].method, "pdl_applied");
  EXPECT_EQ(nlohmann::json::parse(server.requests[2].arguments_json),
            nlohmann::json::parse(R"({"id":"u1","seq":41,"ok":true,"errors":[]})"));
  const auto second = nlohmann::json::parse(server.requests[3].arguments_json);
  EXPECT_EQ(second["id"], "u2");
  EXPECT_EQ(second["ok"], false);
  EXPECT_EQ(second["errors"][0], "/users: fetch failed: HTTP 401");
  finish(ioc, feed, server);
}

TEST(ws_update_feed, an_opal_server_gets_no_after_seq_and_no_acknowledgements) {
  net::io_context ioc;
  script_server server(ioc);
  server.echo = false;
  server.start();
  ws_update_feed feed(ioc, options_for(server));
  std::optional<feed_connection_info> connected;
  std::vector<std::string> reasons;
  auto h = handlers_for(connected, reasons);
  h.resume_after = [] { return std::uint64_t{41}; };
  feed.start(std::move(h));
  ASSERT_TRUE(run_until(ioc, [&] { return connected.has_value(); }));
  EXPECT_FALSE(connected->protocol_echoed);
  feed.acknowledge(applied_ack{"u1", 1, true, {}});
  run_until(ioc, [] { return false; }, std::chrono::milliseconds(50));
  ASSERT_EQ(server.requests.size(), 2u);
  EXPECT_FALSE(nlohmann::json::parse(server.requests[1].arguments_json).contains("after_seq"));
  finish(ioc, feed, server);
}

TEST(ws_update_feed, a_dead_server_is_noticed_within_two_ping_intervals) {
  net::io_context ioc;
  script_server server(ioc);
  server.silent_after_subscribe = true;
  server.start();
  auto o = options_for(server);
  o.ping_interval = std::chrono::seconds(1);
  ws_update_feed feed(ioc, o);
  std::optional<feed_connection_info> connected;
  std::vector<std::string> reasons;
  feed.start(handlers_for(connected, reasons));
  ASSERT_TRUE(run_until(ioc, [&] { return connected.has_value(); }));
  // Bound: two intervals plus scheduling slack; the silent server would hold it for 60 s.
  ASSERT_TRUE(run_until(ioc, [&] { return !reasons.empty(); }, std::chrono::seconds(4)));
  finish(ioc, feed, server);
}

TEST(ws_update_feed, an_https_url_with_an_unreadable_ca_file_is_a_config_error) {
  net::io_context ioc;
  ws_feed_options o;
  o.server_urls = {"https://opal.example.com"};
  EXPECT_NO_THROW(ws_update_feed(ioc, o));  // system CA store
  o.tls.ca_file = "/nonexistent/ca.pem";
  try {
    ws_update_feed feed(ioc, o);
    FAIL() << "an unreadable CA file was accepted";
  } catch (const config::config_error& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].where, "tls.ca_file");
    EXPECT_NE(e.problems()[0].message.find("/nonexistent/ca.pem"), std::string::npos);
  }
}

}  // namespace
}  // namespace pdl::agent
