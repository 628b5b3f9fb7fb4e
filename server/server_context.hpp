#pragma once
// Everything the handlers and sessions share, built once at startup and then only read (the
// members with their own locking excepted: hub, update_log, intake, stats).
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "server/delivery_tracker.hpp"
#include "server/hub.hpp"
#include "server/routes.hpp"
#include "server/server_auth.hpp"
#include "server/server_stats.hpp"
#include "server/session_registry.hpp"
#include "server/update_intake.hpp"
#include "server/update_log.hpp"
#include "shared/config/server_config.hpp"
#include "shared/metrics/metrics.hpp"

namespace pdl::server {

struct server_context {
  const config::server_config cfg;
  std::unique_ptr<server_auth> auth;
  server_stats stats;
  hub subscriptions;
  update_log_ptr updates;
  std::unique_ptr<delivery_tracker> deliveries;
  std::unique_ptr<update_intake> intake;
  std::string base_config_json;  // GET /data/config answer (when not redirected)
  std::vector<route> routes;
  std::string openapi_json;
  std::atomic<bool> listening{false};
  /** Open WebSocket sessions, for /statistics and /metrics. */
  session_registry sessions;
  /** GET /metrics (collectors: server_metrics.hpp). */
  metrics::registry metrics;
  /** This process's id in /statistics `servers` (random per start). */
  std::string server_id;
  const std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();

  explicit server_context(config::server_config c) : cfg(std::move(c)) {}
  /** Closes the update log first: a shared log's tail calls into intake and the hub. */
  ~server_context() { updates.reset(); }
};

/** Builds the context: keys (may generate an ephemeral pair), the update log, routes and the
 *  OpenAPI document. The update log is @p log when given (tests: a fault-injecting fake), else
 *  a file_update_log in cfg.data_dir, else (no data_dir) a memory_update_log, with a WARN that
 *  updates do not survive a restart. @throws config::config_error (server.data_dir unusable). */
std::unique_ptr<server_context> make_server_context(config::server_config cfg,
                                                    update_log_ptr log = nullptr);

}  // namespace pdl::server
