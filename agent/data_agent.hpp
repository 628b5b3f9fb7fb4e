#pragma once
// The agent's object graph and startup sequence: wait for the engine, connect, subscribe, load
// the base data, then apply notifies in order; serve /ready, /healthy and /status.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_state.hpp"
#include "agent/api_server.hpp"
#include "agent/data_fetcher.hpp"
#include "agent/policy_store.hpp"
#include "agent/update_feed.hpp"
#include "agent/updater.hpp"
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

struct data_agent_parts {
  update_feed_ptr feed;
  data_fetcher_ptr fetcher;
  policy_store_ptr store;
  base_config_loader load_base;
};

struct data_agent_options {
  std::vector<std::string> topics{"policy_data"};
  int workers = 4;
  std::chrono::milliseconds retry_min{200};    // engine wait and base-load retries
  std::chrono::milliseconds retry_max{30000};
  std::chrono::milliseconds probe_interval{10000};  // engine liveness probe
  std::size_t max_held_updates = 10000;  // notifies held while the base config is fetched
  std::optional<api_options> api;        // nullopt: no HTTP API (tests)
  std::uint64_t seed = 0;                // backoff seed, 0 = random
};

/**
 * Startup: (1) probe the engine's health with backoff until it answers (no give-up);
 * (2) start the feed; on each (re)connect GET the base config and submit its entries to the
 * updater before any notify received meanwhile (those are held, bounded, then submitted in
 * order); a failed base load is retried with backoff; (3) probe the engine periodically; when it
 * comes back after being down, the base data is loaded again (a restarted engine is empty).
 * Ready once the engine answered and one base load fully succeeded.
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

 private:
  struct impl;
  void on_connected(const feed_connection_info& info);
  void on_update(model::data_update update);
  void on_disconnected(const std::string& reason);
  void start_base_load(std::size_t server_index);
  void retry_base_load(std::uint64_t generation, std::chrono::milliseconds delay);
  void flush_held();

  std::unique_ptr<impl> impl_;
  data_agent_options options_;
  data_agent_parts parts_;
  agent_state state_;
  std::unique_ptr<updater> updater_;
  std::unique_ptr<api_server> api_;
  bool holding_ = false;
  std::deque<model::data_update> held_;
  std::uint64_t base_generation_ = 0;
  bool connected_ = false;
  std::size_t server_index_ = 0;
  bool stopping_ = false;
};

/** The production graph from config: ws_update_feed, curl_fetcher, opa_store, base config over
 *  libcurl. @throws config::config_error. */
std::unique_ptr<data_agent> make_data_agent(boost::asio::io_context& ioc,
                                            boost::asio::thread_pool& pool,
                                            const config::agent_config& cfg);

}  // namespace pdl::agent
