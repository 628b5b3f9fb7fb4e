#pragma once
// The agent's object graph and startup sequence: wait for the engine, make sure it holds our data
// (restoring it from the backup if needed), connect, subscribe (resuming where we stopped when
// the server is ours), load the base data when needed, then apply notifies in order; watch the
// engine; acknowledge and report; serve /ready, /healthy, /status and /metrics.
//
// Decision: when is the base config (GET /data/config) loaded?
// - Against an OPAL server (no protocol echo): on every connect, as OPAL does; it is all there is.
// - Against our server (protocol 1): only until one base load succeeded in this data directory
//   (or this process, without one). Afterwards a reconnect or restart resumes with after_seq and
//   skips the base reload. Reloading it would be wrong: the server replays only updates after
//   the saved seq, so a base entry PUT again would erase every earlier update that had changed
//   its path (OPAL's lost-update bug). The cost: a changed base config reaches an agent with
//   saved state only when its data directory is reset; publish changes as updates instead.
// - After an engine restart: from the backup when there is one; without a data directory, the
//   base is reloaded and (protocol 1) the feed resubscribes with after_seq 0 for a full replay.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_metrics.hpp"
#include "agent/agent_state.hpp"
#include "agent/api_server.hpp"
#include "agent/data_directory.hpp"
#include "agent/data_fetcher.hpp"
#include "agent/policy_store.hpp"
#include "agent/update_feed.hpp"
#include "agent/update_reporter.hpp"
#include "agent/updater.hpp"
#include "shared/metrics/metrics.hpp"
#include "shared/model/data_update.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace pdl::config {
struct agent_config;
}  // namespace pdl::config

namespace pdl::agent {

/** Blocking: returns the base config entries served for @p server_index, or throws
 *  std::runtime_error. Runs on a worker thread. */
using base_config_loader = std::function<std::vector<model::data_source_entry>(std::size_t)>;

/** Where the agent keeps its marker document in the engine. */
inline constexpr const char* marker_path = "/system/pdl_agent";

struct data_agent_parts {
  update_feed_ptr feed;
  data_fetcher_ptr fetcher;
  policy_store_ptr store;
  base_config_loader load_base;
  /** The same config, fetched on a resumed connection (no base reload) only to schedule the
   *  periodic refreshes of a process that has none yet. Null: no refreshes until a base load. */
  base_config_loader load_refresh_schedule;
  /** Null: no persistence (no backup, no saved seq; a random agent id per process). */
  std::unique_ptr<data_directory> dir;
  /** Null: no OPAL DataUpdateReports. */
  std::unique_ptr<update_reporter> reporter;
};

struct data_agent_options {
  std::vector<std::string> topics{"policy_data"};
  /** Entries fetched and written at once (updater_options::max_concurrency). A fetch holds no
   *  thread (the fetcher is event-driven), so this can be large; engine writes run on the pool. */
  int max_in_flight = 256;
  /** /healthy says degraded when an update has been pending longer than this (0: never). */
  std::chrono::milliseconds degraded_after{60000};
  std::chrono::milliseconds retry_min{200};    // engine wait, base-load and restore retries
  std::chrono::milliseconds retry_max{30000};
  std::chrono::milliseconds probe_interval{10000};  // engine liveness probe
  /** How often the marker document is checked (with the probe: the shorter interval wins). */
  std::chrono::milliseconds marker_interval{5000};
  /** Offline mode: with a data directory, ready from the backup before the server answers. */
  bool ready_when_stale = true;
  /** Per-entry fetch/write retries (updater_options::retry_*). */
  int entry_retry_attempts = 1;
  std::chrono::milliseconds entry_retry_min{200};
  std::chrono::milliseconds entry_retry_max{10000};
  std::size_t max_held_updates = 10000;  // notifies held while the base config is fetched
  /** Back-pressure: past this many bytes of queued updates (updater::queued_bytes() plus the
   *  held notifies), the feed is paused until the queue drains below half of it. */
  std::size_t queue_bytes = 64u * 1024 * 1024;
  /** Floor of periodic_update_interval (periodic_refresh_options::min_interval). */
  std::chrono::milliseconds refresh_min_interval{1000};
  std::optional<api_options> api;        // nullopt: no HTTP API (tests)
  std::uint64_t seed = 0;                // backoff seed, 0 = random
  std::string agent_id;                  // without a data directory; "" = generated
};

/**
 * Startup: (1) probe the engine's health with backoff until it answers (no give-up);
 * (2) unless the engine holds our marker, restore it from the backup (if any) and write the
 * marker (an agent with nothing to restore writes its marker with its first write, so an engine
 * it never wrote to stays untouched); in offline mode the agent is now ready (stale); (3) start the feed; on each (re)connect
 * load the base config when needed (see the header comment) and submit its entries before any
 * notify received meanwhile (held, bounded, then submitted in order); a failed base load is
 * retried with backoff; base entries with periodic_update_interval are refreshed through the
 * updater (periodic_refresh.hpp), rescheduled by each base load (on a resumed connection, a
 * process without a schedule fetches the base config only to build it); (4) watch the engine:
 * health every probe interval, marker every marker interval; a missing marker (the engine
 * restarted empty), or writes that gave up because the engine was unreachable, trigger a
 * rewrite of everything: updates wait, the backup is replayed, the marker rewritten.
 * After each update: `pdl_applied` to the server (protocol 1), a DataUpdateReport (if
 * configured), and the applied seq saved to the data directory.
 * Metrics (agent_metrics.hpp) are served on the API's /metrics; updates_* count notifies only
 * (received = applied + failed + skipped: duplicates, already applied, dropped), per-source
 * metrics every entry (base loads and refreshes too).
 *
 * @par Thread safety
 * Construct, start(), stop() and destroy on the io_context's thread. Destroy only after the
 * io_context stopped running (tasks refer to this object); join the pool before that.
 */
class data_agent {
 public:
  data_agent(boost::asio::io_context& ioc, boost::asio::thread_pool& pool,
             data_agent_options options, data_agent_parts parts);
  ~data_agent();
  data_agent(const data_agent&) = delete;
  data_agent& operator=(const data_agent&) = delete;

  /** Starts the API (if any), then the startup sequence. @throws config::config_error when the
   *  API cannot listen, std::runtime_error when the port file cannot be written. */
  void start();
  /** Graceful stop: API closed, feed closed (1001), timers cancelled, queued entries dropped.
   *  Running writes finish on their own (the caller bounds the wait). Idempotent. */
  void stop();

  const agent_state& state() const noexcept { return state_; }
  const updater& data_updater() const noexcept { return *updater_; }
  std::uint16_t api_port() const noexcept;
  const std::string& agent_id() const noexcept { return agent_id_; }
  /** Completed rewrites of the engine (restores after a lost marker or failed writes). */
  std::uint64_t engine_rewrites() const noexcept { return rewrites_; }
  /** The agent's metrics (what /metrics serves). render() on the io_context's thread only: its
   *  collector reads the agent's state. */
  const metrics::registry& metrics_registry() const noexcept { return registry_; }

 private:
  struct impl;
  class observer;
  void on_connected(const feed_connection_info& info);
  void on_update(model::data_update update);
  void on_log_id(const std::string& id);
  void on_disconnected(const std::string& reason);
  void submit_update(model::data_update update, std::chrono::steady_clock::time_point received);
  agent_gauges gauges() const;
  void start_base_load(std::size_t server_index);
  /** Fetches the base config only to schedule its periodic refreshes (resumed connection). */
  void schedule_refreshes(std::size_t server_index);
  void retry_base_load(std::uint64_t generation, std::chrono::milliseconds delay);
  void flush_held();
  /** Pauses or resumes the feed by queued_bytes() against options_.queue_bytes. */
  void apply_back_pressure();
  std::size_t queued_bytes() const noexcept;
  void save_state();
  void start_watch();

  std::unique_ptr<impl> impl_;
  data_agent_options options_;
  data_agent_parts parts_;
  std::string agent_id_;
  agent_state state_;
  agent_metrics metrics_;
  metrics::registry registry_;
  std::unique_ptr<observer> observer_;
  std::unique_ptr<updater> updater_;
  std::unique_ptr<api_server> api_;
  bool holding_ = false;
  struct held_update {
    model::data_update update;
    std::chrono::steady_clock::time_point received;
  };
  std::deque<held_update> held_;
  std::size_t held_bytes_ = 0;
  bool feed_paused_ = false;
  bool replay_needed_ = false;  // an update with a seq was refused: resubscribe once drained
  std::uint64_t base_generation_ = 0;
  bool connected_ = false;
  bool protocol_ = false;    // the current server echoed X-PDL-Protocol
  bool base_loaded_ = false;
  std::string server_log_id_;  // X-PDL-Log-Id of the server whose seqs we count
  std::size_t server_index_ = 0;
  bool stopping_ = false;
  bool rewriting_ = false;
  bool saving_ = false;
  bool save_again_ = false;
  std::uint64_t rewrites_ = 0;
  std::uint64_t engine_rebuilds_ = 0;  // backup replays: at startup and in rewrites
  bool ever_connected_ = false;
};

/** The production graph from config: ws_update_feed, http_fetcher, opa_store, base config over
 *  HTTP, the data directory and the reporter when configured.
 *  @throws config::config_error (including an unusable data directory). */
std::unique_ptr<data_agent> make_data_agent(boost::asio::io_context& ioc,
                                            boost::asio::thread_pool& pool,
                                            const config::agent_config& cfg);

}  // namespace pdl::agent
