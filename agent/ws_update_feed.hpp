#pragma once
// update_feed over a Beast WebSocket client speaking OPAL's RPC framing (shared/rpc/rpc.hpp).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "agent/update_feed.hpp"
#include "shared/log/secret.hpp"
#include "shared/tls/tls_context.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace pdl::agent {

struct ws_feed_options {
  std::vector<std::string> server_urls{"http://localhost:7002"};  // first preferred
  secret token;
  std::vector<std::string> topics{"policy_data"};
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{30000};
  std::chrono::seconds ping_interval{20};  // WebSocket pings; idle timeout = 2x; 0 = off
  std::size_t max_message_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds connect_timeout{10000};  // TCP connect, upgrade, close handshake
  std::chrono::milliseconds call_timeout{30000};     // waiting for _ping_ / subscribe answers
  std::uint64_t backoff_seed = 0;                    // 0 = random (tests fix it)
  std::string agent_id;                              // sent as X-PDL-Agent-Id when not empty
  std::size_t max_pending_acks = 1024;               // acknowledgements kept while offline
  /** For https/wss server URLs: CA ("" = system store) and optional client certificate. The
   *  server's certificate is always verified (chain and host name / IP SAN). */
  tls::client_files tls;
  /** When set: the index (into server_urls) of the server whose session was established last,
   *  stored before on_connected runs. Readable from any thread (the agent downloads blobs from
   *  that server). */
  std::shared_ptr<std::atomic<std::size_t>> current_server;
};

/**
 * Connects to ws[s]://host:port[/prefix]/ws (derived from each server URL; https means WSS, whose
 * verification failures are logged with their reason and retried, never downgraded), sends
 * "Authorization: Bearer <token>", "X-PDL-Protocol: 1" and "X-PDL-Agent-Id", then `_ping_` and
 * one `subscribe` with every topic (a `false` answer is an error), plus `after_seq` (from
 * feed_handlers::resume_after) when the server echoed the protocol. Acknowledgements
 * (acknowledge()) go out as `pdl_applied` requests over such connections only; they wait,
 * bounded by options.max_pending_acks (oldest dropped, logged once), while disconnected.
 * Keep-alive: a WebSocket ping after ping_interval of silence; no answer within a second
 * interval closes the connection, so a dead server is noticed within two intervals. Then it answers `notify` (after handing the
 * parsed update to on_update) and `_get_channel_id_` (a stable id per feed). On any failure it
 * tries the next URL, then waits a jittered exponential delay (backoff.hpp) and starts again
 * from the first URL.
 *
 * @par Thread safety
 * Construct, start, stop and destroy on the io_context's thread. Destroy only once the
 * io_context no longer runs the feed's task (after run() returned, or after stop() and its
 * completion). Handlers never run after stop() returned.
 */
class ws_update_feed final : public update_feed {
 public:
  /** @throws config::config_error for an unusable URL or TLS file (where = tls.*). */
  ws_update_feed(boost::asio::io_context& ioc, ws_feed_options options);
  ~ws_update_feed() override;

  void start(feed_handlers handlers) override;
  void stop() override;
  void acknowledge(applied_ack ack) override;
  void reconnect() override;
  void pause(bool on) override;

  /** Whether the server of the current/last session echoed X-PDL-Protocol. */
  bool protocol_echoed() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace pdl::agent
