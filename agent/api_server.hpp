#pragma once
// The agent's own HTTP API: /healthy (also / and /healthcheck), /ready, /status, /metrics.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/agent_state.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace pdl::metrics {
class registry;
}  // namespace pdl::metrics

namespace pdl::agent {

struct api_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7000;  // 0 = any free port
  std::string port_file;      // written (port + "\n", atomically) once listening
  std::size_t max_request_bytes = 8 * 1024;
  std::chrono::seconds read_timeout{10};
};

/**
 * Routes (GET only; other methods 405, other paths 404):
 * - /healthy, /healthcheck, /: 200 {"status":"ok","online":true}; in offline mode without the
 *   server 200 {"status":"ok","online":false,"reason":...}; or
 *   503 {"status":"unavailable","online":false,"reason":...} (agent_state::health()).
 * - /ready: 200 {"status":"ok"} once agent_state::ready(), else 503 {"status":"unavailable"}.
 * - /status: 200 agent_state::status_json().
 * - /metrics: 200 metrics::registry::render() in the Prometheus text format (no auth: it holds
 *   nothing secret); 404 when no registry was given. Rendered on the io_context's thread.
 *
 * @par Thread safety
 * Everything on the io_context's thread; @p state is read there. Sessions are coroutines that
 * keep their own socket alive; stop() closes the acceptor and every open connection.
 */
class api_server {
 public:
  /** Binds and listens. @throws config::config_error (where "api.port") when that fails. */
  static std::unique_ptr<api_server> create(boost::asio::io_context& ioc, api_options options,
                                            const agent_state& state,
                                            const metrics::registry* metrics = nullptr);
  ~api_server();
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;

  /** Starts accepting, then writes the port file. @throws std::runtime_error if that fails. */
  void start();
  void stop();
  std::uint16_t port() const noexcept;

 private:
  struct impl;
  explicit api_server(std::shared_ptr<impl> impl);
  std::shared_ptr<impl> impl_;
};

/** Writes @p port + "\n" to @p path via a temp file and rename (readers never see half).
 *  @throws std::runtime_error naming the path. */
void write_port_file(const std::string& path, std::uint16_t port);

}  // namespace pdl::agent
