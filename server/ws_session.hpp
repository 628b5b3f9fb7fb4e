#pragma once
// A WebSocket session on /ws: one reader (RPC from the peer), one writer (a bounded queue of
// frames: RPC answers and notifies), WebSocket keep-alive pings. Beast stays in the .cpp.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/server_auth.hpp"

namespace boost::asio {
class io_context;
}

namespace pdl {
class flex_stream;
}

namespace pdl::server {

struct server_context;

/** The upgrade request, minus the Authorization header (already checked). */
struct ws_upgrade {
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string peer;  // "ip:port", for logs
};

/**
 * The strands plaintext WebSocket sessions share, assigned in turn: a fan-out posts one task
 * per lane instead of one per session (hub.hpp). TLS sessions keep the strand of their HTTP
 * connection (the TLS state cannot move). No handler on a strand waits (STYLE H6), so sessions
 * sharing one only take turns.
 */
class ws_lanes {
 public:
  /** @param count at least 1. */
  ws_lanes(boost::asio::io_context& ioc, std::size_t count);
  ~ws_lanes();
  ws_lanes(const ws_lanes&) = delete;
  ws_lanes& operator=(const ws_lanes&) = delete;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  friend void start_ws_session(server_context&, ws_lanes&, flex_stream, ws_upgrade, caller);
};

/**
 * Takes over an HTTP connection's stream (plaintext or TLS, handshake done) whose upgrade
 * request was read and authorised: answers 101 (echoing X-PDL-Protocol when the peer sent it)
 * and runs the session until the peer leaves, the session falls behind (send queue over
 * limits.ws_send_queue: closed with 1013) or the server stops (hub::shut_down_all: 1001).
 * A plaintext session runs on a lane of @p lanes, a TLS one on the stream's own strand.
 * Returns at once; the session owns itself.
 */
void start_ws_session(server_context& ctx, ws_lanes& lanes, flex_stream stream,
                      ws_upgrade upgrade, caller who);

}  // namespace pdl::server
