#include "agent/data_agent.hpp"

#include "agent/backoff.hpp"
#include "agent/base_config.hpp"
#include "agent/curl_fetcher.hpp"
#include "agent/offload.hpp"
#include "agent/opa_store.hpp"
#include "agent/ws_update_feed.hpp"
#include "agent/ws_url.hpp"
#include "shared/config/agent_config.hpp"
#include "shared/http/client.hpp"
#include "shared/log/log.hpp"

namespace pdl::agent {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("agent.updater");
  return l;
}

std::shared_ptr<spdlog::logger> store_logger() {
  static auto l = log::get("agent.store");
  return l;
}

void log_task_failure(std::exception_ptr ep) {
  if (!ep) {
    return;
  }
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    SPDLOG_LOGGER_ERROR(logger(), "agent task failed: {}", e.what());
  }
}

}  // namespace

struct data_agent::impl {
  impl(net::io_context& ioc, net::thread_pool& pool, const data_agent_options& o)
      : ioc(ioc),
        pool(pool),
        engine_timer(ioc),
        probe_timer(ioc),
        base_timer(ioc),
        engine_delays(o.retry_min, o.retry_max, o.seed, o.retry_min),
        base_delays(o.retry_min, o.retry_max, o.seed == 0 ? 0 : o.seed + 1, o.retry_min) {}

  net::io_context& ioc;
  net::thread_pool& pool;
  net::steady_timer engine_timer;
  net::steady_timer probe_timer;
  net::steady_timer base_timer;
  backoff engine_delays;
  backoff base_delays;
};

data_agent::data_agent(net::io_context& ioc, net::thread_pool& pool, data_agent_options options,
                       data_agent_parts parts)
    : impl_(std::make_unique<impl>(ioc, pool, options)),
      options_(std::move(options)),
      parts_(std::move(parts)) {
  updater_options uo;
  uo.topics = options_.topics;
  uo.max_concurrency = options_.workers;
  updater_ = std::make_unique<updater>(ioc, pool, *parts_.fetcher, *parts_.store, state_, uo);
}

data_agent::~data_agent() = default;

std::uint16_t data_agent::api_port() const noexcept { return api_ ? api_->port() : 0; }

void data_agent::start() {
  if (options_.api) {
    api_ = api_server::create(impl_->ioc, *options_.api, state_);
    api_->start();
  }
  auto startup = [](data_agent* self) -> net::awaitable<void> {
    // (1) Wait for the engine: there is nothing to write into before it answers.
    bool warned = false;
    while (!self->stopping_) {
      const bool up = co_await offload(self->impl_->pool,
                                       [store = self->parts_.store.get()] { return store->health(); });
      self->state_.set_engine_reachable(up);
      if (up || self->stopping_) {
        break;
      }
      const auto delay = self->impl_->engine_delays.next();
      if (!warned || self->impl_->engine_delays.attempts() % 10 == 0) {
        SPDLOG_LOGGER_WARN(store_logger(), "policy engine not reachable yet; retrying in {} ms",
                           delay.count());
        warned = true;
      }
      self->impl_->engine_timer.expires_after(delay);
      boost::system::error_code ec;
      co_await self->impl_->engine_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    if (self->stopping_) {
      co_return;
    }
    SPDLOG_LOGGER_INFO(store_logger(), "policy engine reachable");
    // (2) The server connection.
    self->parts_.feed->start(feed_handlers{
        [self](const feed_connection_info& info) { self->on_connected(info); },
        [self](model::data_update u, const std::string&) { self->on_update(std::move(u)); },
        [self](const std::string& reason) { self->on_disconnected(reason); }});
    // (3) Liveness probe.
    while (!self->stopping_) {
      self->impl_->probe_timer.expires_after(self->options_.probe_interval);
      boost::system::error_code ec;
      co_await self->impl_->probe_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (self->stopping_) {
        break;
      }
      const bool was_up = self->state_.engine_reachable();
      const bool up = co_await offload(self->impl_->pool,
                                       [store = self->parts_.store.get()] { return store->health(); });
      if (self->stopping_) {
        break;
      }
      self->state_.set_engine_reachable(up);
      if (was_up && !up) {
        SPDLOG_LOGGER_ERROR(store_logger(), "policy engine unreachable");
      } else if (!was_up && up) {
        SPDLOG_LOGGER_WARN(store_logger(), "policy engine reachable again; reloading the base data");
        if (self->connected_) {
          self->start_base_load(self->server_index_);
        }
      }
    }
  };
  net::co_spawn(impl_->ioc, startup(this), log_task_failure);
}

void data_agent::stop() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  if (api_) {
    api_->stop();
  }
  parts_.feed->stop();
  updater_->stop();
  held_.clear();
  impl_->engine_timer.cancel();
  impl_->probe_timer.cancel();
  impl_->base_timer.cancel();
}

void data_agent::on_connected(const feed_connection_info& info) {
  connected_ = true;
  server_index_ = info.server_index;
  impl_->base_delays.reset();
  state_.set_connected(true, info.server_url);
  start_base_load(info.server_index);
}

void data_agent::on_disconnected(const std::string& reason) {
  connected_ = false;
  state_.set_connected(false, {}, reason);
  ++base_generation_;  // an in-flight base load belongs to the lost connection
  impl_->base_timer.cancel();
  flush_held();
}

void data_agent::on_update(model::data_update update) {
  if (stopping_) {
    return;
  }
  if (holding_) {
    if (held_.size() >= options_.max_held_updates) {
      state_.count_update_dropped();
      SPDLOG_LOGGER_ERROR(logger(), "update id={} dropped: {} updates already wait for the base "
                          "data", update.id.value_or(""), held_.size());
      return;
    }
    held_.push_back(std::move(update));
    return;
  }
  updater_->submit(std::move(update));
}

void data_agent::flush_held() {
  holding_ = false;
  while (!held_.empty()) {
    updater_->submit(std::move(held_.front()));
    held_.pop_front();
  }
}

void data_agent::retry_base_load(std::uint64_t gen, std::chrono::milliseconds delay) {
  auto wait = [](data_agent* self, std::uint64_t gen,
                 std::chrono::milliseconds delay) -> net::awaitable<void> {
    self->impl_->base_timer.expires_after(delay);
    boost::system::error_code ec;
    co_await self->impl_->base_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (!ec && !self->stopping_ && gen == self->base_generation_ && self->connected_) {
      self->start_base_load(self->server_index_);
    }
  };
  net::co_spawn(impl_->ioc, wait(this, gen, delay), log_task_failure);
}

void data_agent::start_base_load(std::size_t server_index) {
  const auto gen = ++base_generation_;
  holding_ = true;
  impl_->base_timer.cancel();
  auto load = [](data_agent* self, std::uint64_t gen, std::size_t index) -> net::awaitable<void> {
    while (!self->stopping_ && gen == self->base_generation_) {
      std::string error;
      std::vector<model::data_source_entry> entries;
      try {
        // Captures stay trivially destructible: GCC 12 may destroy a co_await operand's
        // temporaries twice (a lambda holding a std::function crashed here).
        entries = co_await offload(self->impl_->pool,
                                   [self, index] { return self->parts_.load_base(index); });
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (self->stopping_ || gen != self->base_generation_) {
        co_return;
      }
      if (error.empty()) {
        for (const auto& e : entries) {
          if (e.periodic_update_interval) {
            SPDLOG_LOGGER_WARN(logger(), "base entry {}: periodic_update_interval is not "
                               "supported yet; loaded once", e.dst_path);
          }
        }
        model::data_update base;
        base.entries = std::move(entries);
        base.reason = "Initial load";
        const auto count = base.entries.size();
        // Submitted before the held notifies, so they apply after it where paths overlap.
        self->updater_->submit(std::move(base), [self, gen, count](const update_outcome& out) {
          if (gen != self->base_generation_ || self->stopping_) {
            return;
          }
          if (out.ok) {
            self->impl_->base_delays.reset();
            if (!self->state_.ready()) {
              SPDLOG_LOGGER_INFO(logger(), "initial data load done ({} base entries)", count);
            }
            self->state_.set_initial_load_done();
            return;
          }
          const auto delay = self->impl_->base_delays.next();
          SPDLOG_LOGGER_ERROR(logger(), "base data load failed for {} of its entries; retrying "
                              "in {} ms", out.failed, delay.count());
          self->retry_base_load(gen, delay);
        });
        self->flush_held();
        co_return;
      }
      self->flush_held();
      const auto delay = self->impl_->base_delays.next();
      SPDLOG_LOGGER_ERROR(logger(), "{}; retrying in {} ms", error, delay.count());
      self->impl_->base_timer.expires_after(delay);
      boost::system::error_code ec;
      co_await self->impl_->base_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  };
  net::co_spawn(impl_->ioc, load(this, gen, server_index), log_task_failure);
}

std::unique_ptr<data_agent> make_data_agent(net::io_context& ioc, net::thread_pool& pool,
                                            const config::agent_config& cfg) {
  data_agent_parts parts;
  ws_feed_options wo;
  wo.server_urls = cfg.server_urls;
  wo.token = cfg.client_token;
  wo.topics = cfg.data_topics;
  wo.reconnect_min = cfg.reconnect_min;
  wo.reconnect_max = cfg.reconnect_max;
  wo.ping_interval = cfg.ws_ping_interval;
  wo.max_message_bytes = cfg.ws_max_message_bytes;
  parts.feed = std::make_unique<ws_update_feed>(ioc, wo);

  curl_fetcher_options fo;
  fo.connect_timeout = cfg.fetch_connect_timeout;
  fo.idle_timeout = cfg.fetch_idle_timeout;
  fo.max_bytes = cfg.fetch_max_bytes;
  fo.max_redirects = cfg.fetch_max_redirects;
  fo.temp_dir = cfg.temp_dir;
  parts.fetcher = std::make_unique<curl_fetcher>(fo);

  opa_store_options so;
  so.url = cfg.policy_store_url;
  if (cfg.policy_store_auth_type == "token") {
    so.token = cfg.policy_store_auth_token;
  }
  so.timeout = cfg.store_timeout;
  parts.store = std::make_unique<opa_store>(so);

  parts.load_base = [urls = cfg.server_urls, explicit_url = cfg.data_config_url,
                     token = cfg.client_token, connect = cfg.fetch_connect_timeout,
                     idle = cfg.fetch_idle_timeout](std::size_t index) {
    base_config_request req;
    req.url = !explicit_url.empty() ? explicit_url
                                    : default_data_config_url(urls.at(std::min(index, urls.size() - 1)));
    req.token = token;
    req.connect_timeout = connect;
    req.idle_timeout = idle;
    return load_base_config(req);
  };

  data_agent_options ao;
  ao.topics = cfg.data_topics;
  ao.workers = cfg.fetch_workers;
  ao.retry_min = cfg.reconnect_min;
  ao.retry_max = cfg.reconnect_max;
  api_options api;
  api.host = cfg.api_host;
  api.port = cfg.api_port;
  api.port_file = cfg.port_file;
  ao.api = api;
  return std::make_unique<data_agent>(ioc, pool, ao, std::move(parts));
}

}  // namespace pdl::agent
