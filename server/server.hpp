#pragma once
// The opal-server object graph: context (auth, hub, update log, routes), the listener, and the
// io_context threads. Tests start it in-process on port 0; main.cpp runs it until SIGTERM.
#include <chrono>
#include <cstdint>
#include <memory>

#include "server/update_log.hpp"
#include "shared/config/server_config.hpp"

namespace pdl::server {

struct server_context;

class server {
 public:
  /**
   * Builds everything, binds, and starts cfg.threads threads serving connections. Returns once
   * listening (GET /ready answers ok from then on).
   * @param log the update log to use instead of the configured one (tests).
   * @throws config::config_error (bad keys, address in use, data directory unusable, ...).
   */
  static std::unique_ptr<server> start(config::server_config cfg, update_log_ptr log = nullptr);
  ~server();  // stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  std::uint16_t port() const;
  server_context& context();

  /**
   * Graceful stop, idempotent, from any thread but the server's own: stops accepting, closes
   * WebSocket sessions with 1001 and idle HTTP connections, waits up to @p grace for them,
   * then stops and joins the threads.
   */
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  struct impl;

 private:
  explicit server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/** `opal-server run`: logging, start, --port-file, wait for SIGTERM/SIGINT, graceful stop.
 *  @return the process exit code (0 after a signal, 1 on a startup error). */
int run_until_signalled(config::server_config cfg);

/** Writes "<port>\n" to @p path atomically (temp file + rename). @throws std::runtime_error. */
void write_port_file(const std::string& path, std::uint16_t port);

}  // namespace pdl::server
