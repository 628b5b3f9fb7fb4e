#pragma once
// The server's side of OPAL's RPC over one WebSocket, without the socket: frames in, response
// frames out. The session (ws_session.cpp) owns the socket and calls this on its strand.
#include <optional>
#include <string>
#include <string_view>

#include "server/server_auth.hpp"

namespace pdl::server {

struct server_context;

/**
 * Methods: `_ping_`/`ping` -> "pong"; `_get_channel_id_` -> the session id; `subscribe` ->
 * true, or false (with a WARN, nothing subscribed) when a topic is outside the token's
 * permitted_topics; `unsubscribe` -> true; `publish` -> true/false (only datasource tokens may
 * publish; "__opal_stats*" topics are accepted and ignored; a DataUpdate takes the same path as
 * POST /data/config). Unknown method -> result null, result_type "error". Other names starting
 * with '_' and the peer's responses are ignored (no answer, never waited for).
 * @par Thread safety
 * One instance per session, used from the session's strand only.
 */
class ws_rpc {
 public:
  ws_rpc(server_context& ctx, std::string session_id, caller who);

  /** Handles one text frame; @return the frame to send back, if any. Never throws for bad
   *  input (it is logged and ignored). */
  std::optional<std::string> on_frame(std::string_view text);

  const std::string& session_id() const noexcept { return session_id_; }

 private:
  std::string handle_subscribe(std::string_view args);
  std::string handle_publish(std::string_view args);

  server_context& ctx_;
  std::string session_id_;
  caller who_;
};

}  // namespace pdl::server
