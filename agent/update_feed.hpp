#pragma once
// Seam: the connection to the server that delivers data updates.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shared/model/data_update.hpp"

namespace pdl::agent {

struct feed_connection_info {
  std::string server_url;    // the WebSocket URL (no credentials), for logs and /status
  std::size_t server_index = 0;  // which of the configured server URLs answered
  bool protocol_echoed = false;  // the server answered X-PDL-Protocol (it is one of ours)
};

/** Callbacks from a feed. All run on the feed's executor (the agent's io_context thread), one at
 *  a time, in the order the server sent things. They must not block. */
struct feed_handlers {
  /** Subscribed to every topic; updates may follow. Called again after each reconnect. */
  std::function<void(const feed_connection_info&)> on_connected;
  /** One update, parsed and validated, in arrival order. @p topic: the notify's topic. */
  std::function<void(model::data_update update, const std::string& topic)> on_update;
  /** The connection was lost or refused (@p reason for logs/status); the feed keeps retrying. */
  std::function<void(const std::string& reason)> on_disconnected;
  /** Asked right before subscribing to a server that echoed the protocol: the seq after which
   *  the server should replay (0 = everything it kept). Unset: no after_seq is sent. */
  std::function<std::uint64_t()> resume_after;
  /** Protocol 1, right after the upgrade and before resume_after: the server's update log id
   *  (X-PDL-Log-Id; empty when it sent none). A different id than last time means its seqs
   *  started over (docs/protocol.md). */
  std::function<void(const std::string& log_id)> on_log_id;
};

/** Protocol 1 acknowledgement of one processed update (RPC `pdl_applied`). */
struct applied_ack {
  std::string id;
  std::uint64_t seq = 0;
  bool ok = true;
  std::vector<std::string> errors;
};

/**
 * Delivers updates from the server, reconnecting (with backoff) until stopped.
 *
 * start() and stop() are called on the agent's io_context thread. start() returns at once; it
 * is called once. stop() closes the connection (WebSocket close 1001 "going away") and cancels
 * timers; no handler runs after the feed's last task finished; the io_context stops having work
 * from the feed shortly after.
 */
class update_feed {
 public:
  virtual ~update_feed() = default;
  virtual void start(feed_handlers handlers) = 0;
  virtual void stop() = 0;
  /** Queues @p ack for the server; sent only over connections where the protocol was echoed
   *  (kept, bounded, across a reconnect). Default: dropped (feeds without acknowledgements). */
  virtual void acknowledge(applied_ack ack) { (void)ack; }
  /** Drops the current connection so the next one subscribes afresh (resume_after asked
   *  again). Default: nothing. */
  virtual void reconnect() {}
  /** Back-pressure: while paused, no further frame is read from the server (TCP flow control
   *  holds the rest; a server that gives up on us closes the connection, and the next one
   *  resumes from the applied watermark). The frame being handled finishes. Default: nothing. */
  virtual void pause(bool on) { (void)on; }
};

using update_feed_ptr = std::unique_ptr<update_feed>;

}  // namespace pdl::agent
