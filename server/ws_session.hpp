#pragma once
// A WebSocket session on /ws: one reader (RPC from the peer), one writer (a bounded queue of
// frames: RPC answers and notifies), WebSocket keep-alive pings. Beast stays in the .cpp.
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
 * Takes over an accepted TCP connection whose HTTP upgrade request was read and authorised:
 * answers 101 (echoing X-PDL-Protocol when the peer sent it) and runs the session on its own
 * strand until the peer leaves, the session falls behind (send queue over
 * limits.ws_send_queue: closed with 1013) or the server stops (hub::shut_down_all: 1001).
 * Returns at once; the session owns itself.
 * @param native_fd the socket, released by its previous owner; @param v6 its protocol family.
 */
void start_ws_session(server_context& ctx, boost::asio::io_context& ioc, int native_fd, bool v6,
                      ws_upgrade upgrade, caller who);

/** The same over an HTTP connection's stream (plaintext or TLS, handshake done), which the
 *  session takes over; it runs on the stream's executor (a strand). */
void start_ws_session(server_context& ctx, flex_stream stream, ws_upgrade upgrade, caller who);

}  // namespace pdl::server
