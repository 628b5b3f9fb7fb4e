#include "agent/api_server.hpp"

#include <gtest/gtest.h>

#include <future>

#include "shared/http/client.hpp"
#include "shared/net.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;

class api_server_test : public ::testing::Test {
 protected:
  void SetUp() override {
    api_options o;
    o.port = 0;
    o.port_file = dir.file("api.port");
    o.max_request_bytes = 1024;
    server = api_server::create(ioc, o, state);
    server->start();
  }
  void TearDown() override {
    server->stop();
    ioc.restart();
    ioc.run_for(2s);
  }
  http_client::response call(http_client::request req) {
    req.url = "http://127.0.0.1:" + std::to_string(server->port()) + req.url;
    auto fut = std::async(std::launch::async, [req] { return http_client::perform(req); });
    test::run_until(ioc, [&] { return fut.wait_for(0s) == std::future_status::ready; });
    auto result = fut.get();
    if (auto* r = std::get_if<http_client::response>(&result)) {
      return *r;
    }
    return {};
  }
  http_client::response get(const std::string& path) {
    http_client::request req;
    req.url = path;
    return call(req);
  }

  pdl::test::temp_dir dir;
  net::io_context ioc;
  agent_state state;
  std::unique_ptr<api_server> server;
};

TEST_F(api_server_test, port_file_holds_the_bound_port) {
  ASSERT_NE(server->port(), 0);
  EXPECT_EQ(pdl::test::read_file(dir.file("api.port")), std::to_string(server->port()) + "\n");
}

TEST_F(api_server_test, ready_and_healthy_follow_the_state) {
  EXPECT_EQ(get("/ready").status, 503);
  auto h = get("/healthy");
  EXPECT_EQ(h.status, 503);
  EXPECT_NE(h.body.find("\"status\":\"unavailable\""), std::string::npos);
  state.set_engine_reachable(true);
  state.set_connected(true, "ws://s/ws");
  state.set_initial_load_done();
  EXPECT_EQ(get("/ready").body, R"({"status":"ok"})");
  EXPECT_EQ(get("/healthcheck").body, R"({"status":"ok","online":true})");
  EXPECT_EQ(get("/").status, 200);
  EXPECT_EQ(get("/healthy").header("content-type"), "application/json");
}

TEST_F(api_server_test, wrong_method_unknown_path_and_big_request) {
  http_client::request post;
  post.method = "POST";
  post.url = "/ready";
  post.body = "{}";
  EXPECT_EQ(call(post).status, 405);
  EXPECT_EQ(get("/data-updater/trigger").status, 404);
  http_client::request big;
  big.method = "POST";
  big.url = "/ready";
  big.body = std::string(4096, 'x');
  EXPECT_NE(call(big).status, 200);
}

}  // namespace
}  // namespace pdl::agent
