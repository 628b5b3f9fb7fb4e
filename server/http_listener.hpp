#pragma once
// The TCP listener and the HTTP/1.1 connections (keep-alive, limits, read timeout). WebSocket
// upgrades on /ws are authorised here and handed to ws_session. Beast stays in the .cpp.
#include <cstdint>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace pdl::server {

struct server_context;

class http_listener {
 public:
  /** Binds and listens on cfg.host:cfg.port (0 = any free port).
   *  @throws config::config_error when the address cannot be resolved or bound. */
  static std::unique_ptr<http_listener> open(server_context& ctx, boost::asio::io_context& ioc);
  ~http_listener();
  http_listener(const http_listener&) = delete;
  http_listener& operator=(const http_listener&) = delete;

  /** The bound port. */
  std::uint16_t port() const;
  /** Starts accepting (each connection on its own strand). Call once. */
  void start();
  /** Closes the acceptor and every HTTP connection (in-flight requests are cut; WebSocket
   *  sessions are closed separately, through the hub). Thread-safe, idempotent. */
  void stop();

  struct impl;

 private:
  explicit http_listener(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace pdl::server
