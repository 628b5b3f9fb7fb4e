#include "tests/faults/tcp_proxy.hpp"

#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "tests/fakes/opa_standin/loopback_client.hpp"
#include "tests/fakes/opa_standin/loopback_server.hpp"

namespace pdl::test {
namespace {

using namespace std::chrono_literals;

// A loopback HTTP server answering its own name, on its own thread.
class named_server {
 public:
  explicit named_server(std::string name) {
    server_ = fakes::loopback_server::create({}, [name](const fakes::http_request&) {
      return fakes::http_response{200, "text/plain", name, {}};
    });
    thread_ = std::thread([this] { server_->run(); });
  }
  ~named_server() {
    server_->stop();
    thread_.join();
  }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<fakes::loopback_server> server_;
  std::thread thread_;
};

TEST(tcp_proxy, forwards_and_follows_a_retarget) {
  named_server a("a");
  named_server b("b");
  tcp_proxy proxy(a.port());
  auto port = static_cast<std::uint16_t>(proxy.port());
  EXPECT_EQ(fakes::http_call(port, "GET", "/").body, "a");
  proxy.retarget(b.port());
  EXPECT_EQ(fakes::http_call(port, "GET", "/").body, "b");
  EXPECT_GE(proxy.accepted(), 2u);
}

TEST(tcp_proxy, cut_all_resets_live_connections_and_new_ones_work) {
  named_server a("a");
  tcp_proxy proxy(a.port());
  auto port = static_cast<std::uint16_t>(proxy.port());
  fakes::loopback_client kept(port, 2000ms);
  EXPECT_EQ(kept.send("GET", "/").body, "a");  // keep-alive: the connection stays open
  proxy.cut_all();
  EXPECT_THROW(kept.send("GET", "/"), std::runtime_error);
  EXPECT_EQ(fakes::http_call(port, "GET", "/").body, "a");
}

TEST(tcp_proxy, refuses_while_asked_and_when_it_has_no_target) {
  named_server a("a");
  tcp_proxy proxy(0);
  auto port = static_cast<std::uint16_t>(proxy.port());
  EXPECT_THROW(fakes::http_call(port, "GET", "/"), std::runtime_error);
  proxy.retarget(a.port());
  proxy.set_refuse(true);
  EXPECT_THROW(fakes::http_call(port, "GET", "/"), std::runtime_error);
  proxy.set_refuse(false);
  EXPECT_EQ(fakes::http_call(port, "GET", "/").body, "a");
}

}  // namespace
}  // namespace pdl::test
