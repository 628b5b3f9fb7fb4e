#include "server/ws_session.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;

TEST(ws_liveness, a_silent_agent_is_dropped_by_pings_and_a_live_one_is_kept) {
  pem_pair keys = make_pem_pair();
  auto cfg = test_config(keys);
  cfg.ws_ping_interval = 1s;
  auto srv = server::start(cfg);
  std::string token = mint(srv->port(), "client");

  ws_client live(srv->port(), token, ws_client::protocol1("live"));
  ASSERT_TRUE(live.subscribe({"x"}));
  // Reading answers the server's pings (Beast pongs while a read is pending).
  std::thread reader([&] {
    beast::error_code ec;
    while (live.try_read(ec)) {
    }
  });
  {
    ws_client dead(srv->port(), token, ws_client::protocol1("dead"));
    ASSERT_TRUE(dead.subscribe({"x"}));  // then never reads again: pings go unanswered
    ASSERT_TRUE(pdl::test::poll_until(
        [&] { return srv->context().subscriptions.session_count() == 2; }, 5s));
    // Removed after two ping intervals of silence (the deadline only bounds the test).
    EXPECT_TRUE(pdl::test::poll_until(
        [&] { return srv->context().subscriptions.session_count() == 1; }, 15s));
  }
  // The reading agent survived the same silence (>= 2 intervals have passed).
  EXPECT_EQ(srv->context().subscriptions.session_count(), 1u);
  EXPECT_EQ(srv->context().stats.open_sessions.load(), 1);
  srv->stop();
  reader.join();
}

}  // namespace
}  // namespace pdl::server
