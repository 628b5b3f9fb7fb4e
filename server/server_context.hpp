#pragma once
// Everything the handlers and sessions share, built once at startup and then only read (the
// members with their own locking excepted: hub, update_log, intake, stats).
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "server/blobs/blob_store.hpp"
#include "server/blobs/blob_urls.hpp"
#include "server/blobs/redis_blobs.hpp"
#include "server/blobs/base_refresh.hpp"
#include "server/blobs/retention.hpp"
#include "server/blobs/source_fetch.hpp"
#include "server/delivery_tracker.hpp"
#include "server/redis_deliveries.hpp"
#include "server/hub.hpp"
#include "server/policy/policy_source.hpp"
#include "server/routes.hpp"
#include "server/server_auth.hpp"
#include "server/server_stats.hpp"
#include "server/session_registry.hpp"
#include "server/update_intake.hpp"
#include "server/update_log.hpp"
#include "shared/config/server_config.hpp"
#include "shared/metrics/metrics.hpp"

namespace boost::asio {
class thread_pool;
}

namespace pdl::server {

struct server_context {
  const config::server_config cfg;
  std::unique_ptr<server_auth> auth;
  server_stats stats;
  hub subscriptions;
  update_log_ptr updates;
  std::unique_ptr<delivery_tracker> deliveries;
  /** With replicas (broadcast.uri): this replica's agents shared through Redis, and
   *  GET /data/updates/{id} for the whole cluster (started and stopped by server). */
  std::unique_ptr<redis_deliveries> shared_deliveries;
  /** The source rules published entries are checked against (server_source_rules). */
  std::unique_ptr<const http_client::source_rules> sources;
  std::unique_ptr<update_intake> intake;
  std::string base_config_json;  // GET /data/config answer (when not redirected)
  /** GET /policy and the policy:<dir> notifies (policy.dir); started by server::start. */
  std::unique_ptr<policy::policy_source> policies;
  /** Fetch once (docs/fetch-once.md): the documents the server fetched for every agent, its
   *  fetcher, and the signer of blob URLs. */
  std::unique_ptr<blobs::blob_store> blob_files;
  std::unique_ptr<blobs::source_fetcher> blob_fetcher;
  std::unique_ptr<blobs::blob_urls> blob_signer;
  /** With replicas (broadcast.uri): blobs copied to Redis before the append, read from it by
   *  the replicas that do not have them. */
  std::unique_ptr<blobs::redis_blobs> shared_blobs;
  /** The base entries the server fetches itself, refreshed and published when they change
   *  (started by server::start; GET /data/config asks it when active()). */
  std::unique_ptr<blobs::base_refresher> base_refresh;
  /** Removes the blobs no update refers to any more (started by server::start). */
  std::unique_ptr<blobs::periodic_retention> blob_retention;
  /** The blob folder made for this process alone (no blobs.dir, no data_dir): removed at the
   *  end. */
  std::string blob_temp_dir;
  /** Why there is no blob store (blob_files null: the default temp folder could not be made,
   *  e.g. a read-only root); publishes that need one are refused with this. */
  std::string blobs_unavailable;
  std::vector<route> routes;
  std::string openapi_json;
  std::atomic<bool> listening{false};
  /** The port the listener bound (server.port may be 0), once listening. */
  std::atomic<std::uint16_t> bound_port{0};
  /** The base of the URLs agents and OPAL clients reach us at: server.public_url, else
   *  http(s)://server.host:<bound port> unless the host is a wildcard (then "": paths only). */
  std::string public_base() const;
  /** Open WebSocket sessions, for /statistics and /metrics. */
  session_registry sessions;
  /** GET /metrics (collectors: server_metrics.hpp). */
  metrics::registry metrics;
  /** This process's id in /statistics `servers` (random per start). */
  std::string server_id;
  const std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
  /**
   * Work that may wait never runs on an I/O thread or a strand (STYLE H6); it is offloaded
   * (shared/net/offload.hpp) and the coroutine resumes on its strand. publish_pool
   * (server.publish_threads) runs update_intake::submit: the append, its fsync or Redis round
   * trip, and the wait for seq order. read_pool (replay_read_threads) runs the log reads of
   * replay, apart from publishes so that a frozen log's appends cannot starve them.
   * Both are stopped and joined by stop_pools(), after the I/O threads.
   */
  std::unique_ptr<boost::asio::thread_pool> publish_pool;
  std::unique_ptr<boost::asio::thread_pool> read_pool;
  static constexpr int replay_read_threads = 2;

  explicit server_context(config::server_config c);
  /** Stops the pools, then closes the update log: a shared log's tail calls into intake and
   *  the hub. */
  ~server_context();
  /** Lets the running pool tasks finish, drops the queued ones, joins the pool threads and
   *  destroys the pools. Idempotent. Call after the I/O threads have stopped and before their
   *  io_context is destroyed (the tasks' results are bound for it). */
  void stop_pools();
};

/** Builds the context: keys (may generate an ephemeral pair), the update log, routes and the
 *  OpenAPI document. The update log is @p log when given (tests: a fault-injecting fake), else
 *  a file_update_log in cfg.data_dir, else (no data_dir) a memory_update_log, with a WARN that
 *  updates do not survive a restart. @throws config::config_error (server.data_dir unusable). */
std::unique_ptr<server_context> make_server_context(config::server_config cfg,
                                                    update_log_ptr log = nullptr);

}  // namespace pdl::server
