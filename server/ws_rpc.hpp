#pragma once
// The server's side of OPAL's RPC over one WebSocket, without the socket: frames in, response
// frames out. The session (ws_session.cpp) owns the socket and calls this on its strand.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "server/http_types.hpp"
#include "server/server_auth.hpp"

namespace pdl::server {

struct server_context;
struct session_info;

/** What the upgrade request told about the peer. */
struct session_peer {
  /** It sent X-PDL-Protocol: 1 (our agent): the protocol-1 extensions are on. */
  bool protocol1 = false;
  /** X-PDL-Agent-Id when valid, else the session id. */
  std::string agent_id;
  /** When set, subscribes and acknowledgements update it (/statistics, /metrics). */
  std::shared_ptr<session_info> info;
};

/**
 * Methods: `_ping_`/`ping` -> "pong"; `_get_channel_id_` -> the session id; `subscribe` ->
 * true, or false (with a WARN, nothing subscribed) when a topic is outside the token's
 * permitted_topics; `unsubscribe` -> true; `publish` -> true/false (only datasource tokens may
 * publish; "__opal_stats*" topics are accepted and ignored; a DataUpdate takes the same path as
 * POST /data/config: it is not answered here but handed over with take_publish(), because
 * storing it may wait). Unknown method -> result null, result_type "error". Other names starting
 * with '_' and the peer's responses are ignored (no answer, never waited for).
 * Protocol 1 only (docs/protocol.md): `subscribe` may carry `after_seq` (see take_resume());
 * `pdl_applied` records an acknowledgement -> true (false for malformed arguments).
 * @par Thread safety
 * One instance per session, used from the session's strand only.
 */
/** A `publish` whose DataUpdate passed the cheap checks: the session stores it off its strand
 *  (async_dispatch.hpp) and answers with ws_rpc::publish_answer(). */
struct deferred_publish {
  std::string call_id;
  std::string body;  // the DataUpdate JSON
  caller who;
};

class ws_rpc {
 public:
  ws_rpc(server_context& ctx, std::string session_id, caller who, session_peer peer = {});

  /** Handles one text frame; @return the frame to send back, if any. Never throws for bad
   *  input (it is logged and ignored). */
  std::optional<std::string> on_frame(std::string_view text);

  const std::string& session_id() const noexcept { return session_id_; }
  const std::string& agent_id() const noexcept { return peer_.agent_id; }

  /** After on_frame(): the `after_seq` of a successful protocol-1 subscribe, once. The session
   *  then replays the log after it before any live update (ws_session.cpp). */
  std::optional<std::uint64_t> take_resume() { return std::exchange(resume_, std::nullopt); }

  /** After on_frame(): the publish it did not answer, once. */
  std::optional<deferred_publish> take_publish() { return std::exchange(publish_, std::nullopt); }

  /** The answer frame to @p p once the intake (or the pending-publish bound) answered @p r:
   *  true for 200, false (logged) otherwise. Safe from any thread (reads nothing mutable). */
  std::string publish_answer(const deferred_publish& p, const http_reply& r) const;

 private:
  std::string handle_subscribe(std::string_view args);
  /** "true"/"false" now, or nullopt with publish_ set. */
  std::optional<std::string> handle_publish(std::string_view args, const std::string& call_id);
  std::string handle_applied(std::string_view args);

  server_context& ctx_;
  std::string session_id_;
  caller who_;
  session_peer peer_;
  std::optional<std::uint64_t> resume_;
  std::optional<deferred_publish> publish_;
};

}  // namespace pdl::server
