#pragma once
// Seam: the connection to the server that delivers data updates.
#include <functional>
#include <memory>
#include <string>

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
};

using update_feed_ptr = std::unique_ptr<update_feed>;

}  // namespace pdl::agent
