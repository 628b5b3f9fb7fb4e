#include "agent/data_agent.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "agent/backoff.hpp"
#include "agent/base_config.hpp"
#include "agent/http_fetcher.hpp"
#include "agent/opa_store.hpp"
#include "agent/periodic_refresh.hpp"
#include "agent/source_policy.hpp"
#include "agent/supervisor.hpp"
#include "agent/ws_update_feed.hpp"
#include "agent/ws_url.hpp"
#include "shared/config/agent_config.hpp"
#include "shared/config/config_error.hpp"
#include "shared/http/client.hpp"
#include "shared/log/log.hpp"
#include "shared/net/offload.hpp"

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
  if (ep) {
    SPDLOG_LOGGER_ERROR(logger(), "agent task failed: {}", describe(ep));
  }
}

/** Memory a held notify costs, counted as updater::queued_bytes() counts its entries. */
std::size_t held_size(const model::data_update& u) {
  std::size_t n = 0;
  for (const auto& e : u.entries) {
    n += updater::entry_bytes(e);
  }
  return n;
}

enum class marker_status { present, missing, unreachable };

/** Blocking. */
marker_status check_marker(policy_store& store) {
  try {
    return store.get(marker_path) ? marker_status::present : marker_status::missing;
  } catch (const store_error&) {
    return marker_status::unreachable;
  }
}

/** @p path (normalised) is the marker's path or one of its ancestors: a PUT there erased it. */
bool covers_marker(const std::string& path) {
  const std::string m = marker_path;
  return path.empty() || path == m ||
         (m.size() > path.size() && m.compare(0, path.size(), path) == 0 && m[path.size()] == '/');
}

net::awaitable<void> sleep_for(net::steady_timer& timer, std::chrono::milliseconds delay) {
  timer.expires_after(delay);
  boost::system::error_code ec;
  co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
}

}  // namespace

/** Journals every write into the backup and keeps the marker alive: it is written right before
 *  the agent's first write (an engine we never wrote to has nothing to lose, and stays
 *  untouched) and again after a PUT that erased it. Runs on the updater's workers (hence the
 *  atomics). */
class data_agent::observer final : public write_observer {
 public:
  observer(data_directory* dir, policy_store& store, std::string marker_json)
      : dir_(dir), store_(store), marker_json_(std::move(marker_json)) {}

  void written(const std::string& path, bool put, const store_body& body, bool applied) override {
    if (!applied) {
      resync_needed.store(true);
    }
    journal(path, put, body);
    if (applied && put && covers_marker(path)) {
      // Our own PUT erased the marker. Never throws: the data write already succeeded and must
      // not be retried. A marker that could not be written is owed: the watch loop checks at
      // its next tick, and a missing marker then means a rewrite (we cannot tell "not written"
      // from "lost"); after a PUT that covered the marker the journal starts with it, so that
      // replay writes nothing twice.
      try {
        write_marker();
      } catch (const std::exception& e) {
        marker_in_place.store(true);
        marker_owed.store(true);
        SPDLOG_LOGGER_WARN(store_logger(), "cannot write the marker document after a "
                           "write to {}: {} (checked again shortly)", path.empty() ? "/" : path,
                           e.what());
      }
    }
  }

  /** The first write of an engine we never wrote to: the marker goes first. If it cannot be
   *  written, neither is the data (the attempt fails and is retried like any other). */
  void before_write(const std::string& path, bool put) override {
    (void)path;
    (void)put;
    if (!marker_in_place.load()) {
      try {
        write_marker();
      } catch (const store_error& e) {
        throw store_error(std::string("cannot write the marker document first: ") + e.what(),
                          e.http_status(), e.timed_out());
      }
    }
  }

  /** Journaled too: the engine may have refused it only because it restarted empty and the
   *  marker check has not seen that yet (found by the fault suite: such a PATCH was missing
   *  after the rewrite). Replayed on the state the backup rebuilds, it applies, or is refused
   *  again exactly as the engine refused it when it held that state. */
  void patch_refused(const std::string& path, const store_body& body) override {
    journal(path, false, body);
  }

  /** Blocking. @throws store_error. */
  void write_marker() {
    store_.put(marker_path, store_body::from_text(marker_json_));
    marker_in_place.store(true);
    marker_owed.store(false);
  }

  /** Set once we wrote (or found) the marker: from then on its absence means data loss. */
  std::atomic<bool> marker_in_place{false};
  std::atomic<bool> resync_needed{false};
  /** A marker write after a data write failed: check the marker at the next watch tick. */
  std::atomic<bool> marker_owed{false};

 private:
  void journal(const std::string& path, bool put, const store_body& body) {
    if (dir_ == nullptr) {
      return;
    }
    try {
      dir_->backup().record(path, put, body);
      record_failure_logged_.store(false);
    } catch (const std::exception& e) {
      if (!record_failure_logged_.exchange(true)) {
        SPDLOG_LOGGER_ERROR(log::get("agent.backup"), "cannot back up the write to {}: {} "
                            "(a restore would miss it)", path.empty() ? "/" : path, e.what());
      }
    }
  }

  data_directory* dir_;
  policy_store& store_;
  const std::string marker_json_;
  std::atomic<bool> record_failure_logged_{false};
};

struct data_agent::impl {
  impl(net::io_context& ioc, net::thread_pool& pool, const data_agent_options& o)
      : ioc(ioc),
        pool(pool),
        engine_timer(ioc),
        probe_timer(ioc),
        base_timer(ioc),
        rewrite_timer(ioc),
        engine_delays(o.retry_min, o.retry_max, o.seed, o.retry_min),
        base_delays(o.retry_min, o.retry_max, o.seed == 0 ? 0 : o.seed + 1, o.retry_min) {}

  net::io_context& ioc;
  net::thread_pool& pool;
  net::steady_timer engine_timer;
  net::steady_timer probe_timer;
  net::steady_timer base_timer;
  net::steady_timer rewrite_timer;
  backoff engine_delays;
  backoff base_delays;
  std::unique_ptr<periodic_refresh> refresh;  // base entries with periodic_update_interval
};

data_agent::data_agent(net::io_context& ioc, net::thread_pool& pool, data_agent_options options,
                       data_agent_parts parts)
    : impl_(std::make_unique<impl>(ioc, pool, options)),
      options_(std::move(options)),
      parts_(std::move(parts)) {
  agent_id_ = parts_.dir ? parts_.dir->agent_id()
                         : (options_.agent_id.empty() ? generate_agent_id() : options_.agent_id);
  const auto epoch = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  observer_ = std::make_unique<observer>(
      parts_.dir.get(), *parts_.store,
      nlohmann::json{{"agent", agent_id_}, {"epoch", epoch}}.dump());
  updater_options uo;
  uo.topics = options_.topics;
  uo.max_concurrency = options_.max_in_flight;
  uo.retry_attempts = options_.entry_retry_attempts;
  uo.retry_min = options_.entry_retry_min;
  uo.retry_max = options_.entry_retry_max;
  uo.seed = options_.seed;
  uo.collect_reports = parts_.reporter != nullptr;
  uo.observer = observer_.get();
  uo.metrics = &metrics_;
  uo.on_update_done = [this] { apply_back_pressure(); };
  // The byte bound pauses the feed long before this (every entry counts >= 512 bytes), so the
  // entry limit is only a last resort for one huge update.
  uo.max_pending_entries = options_.queue_bytes / 512 + 20000;
  updater_ = std::make_unique<updater>(ioc, pool, *parts_.fetcher, *parts_.store, state_, uo);
  state_.set_pending_age([u = updater_.get()] { return u->oldest_open_since(); },
                         options_.degraded_after);
  periodic_refresh_options ro;
  ro.topics = options_.topics;
  ro.seed = options_.seed == 0 ? 0 : options_.seed + 2;
  ro.min_interval = options_.refresh_min_interval;
  impl_->refresh = std::make_unique<periodic_refresh>(
      ioc,
      [this](model::data_update u, periodic_refresh::done_fn done) {
        return updater_->submit(std::move(u), [done = std::move(done)](const update_outcome& out) {
                 done(out.ok);
               }) == submit_result::queued;
      },
      ro);
  state_.set_agent_id(agent_id_);
  state_.set_offline_mode(parts_.dir != nullptr && options_.ready_when_stale);
  if (parts_.dir) {
    updater_->set_applied_seq(parts_.dir->loaded().last_applied_seq);
    base_loaded_ = parts_.dir->loaded().base_loaded;
    server_log_id_ = parts_.dir->loaded().server_log_id;
  }
  registry_.add([this](metrics::writer& w) { metrics_.write(w, gauges()); });
}

data_agent::~data_agent() = default;

agent_gauges data_agent::gauges() const {
  agent_gauges g;
  g.queue_depth = updater_->pending() + updater_->running();
  if (const auto age = state_.oldest_pending_age()) {
    g.oldest_pending_seconds = std::chrono::duration<double>(*age).count();
  }
  g.queued_bytes = queued_bytes();
  g.feed_paused = feed_paused_;
  if (parts_.reporter) {
    g.report_queue_depth = parts_.reporter->queued();
  }
  g.connected = state_.connected();
  g.ready = state_.ready();
  g.store_healthy = state_.engine_reachable() && !state_.writes_failing();
  g.applied_seq = updater_->last_applied_seq().value_or(0);
  g.engine_rebuilds = engine_rebuilds_;
  return g;
}

std::uint16_t data_agent::api_port() const noexcept { return api_ ? api_->port() : 0; }

void data_agent::start() {
  if (options_.api) {
    api_ = api_server::create(impl_->ioc, *options_.api, state_, &registry_);
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
      co_await sleep_for(self->impl_->engine_timer, delay);
    }
    if (self->stopping_) {
      co_return;
    }
    SPDLOG_LOGGER_INFO(store_logger(), "policy engine reachable");
    // (2) Make sure the engine holds what we wrote before (it may have restarted empty while
    // we were away), so that resuming after the saved seq is right.
    self->impl_->engine_delays.reset();
    while (!self->stopping_) {
      const auto status = co_await offload(
          self->impl_->pool, [store = self->parts_.store.get()] { return check_marker(*store); });
      std::string problem;
      if (status == marker_status::unreachable) {
        problem = "cannot read the marker document";
      } else if (status == marker_status::present) {
        SPDLOG_LOGGER_INFO(store_logger(), "the engine still holds our data (marker found)");
        self->observer_->marker_in_place.store(true);
        break;
      } else if (!self->parts_.dir || self->parts_.dir->backup().empty()) {
        break;  // nothing to restore; the marker comes with our first write
      } else {
        try {
          const auto r = co_await offload(self->impl_->pool, [self] {
            return self->parts_.dir->backup().restore(*self->parts_.store);
          });
          SPDLOG_LOGGER_INFO(store_logger(), "restored {} writes from the backup into the "
                             "engine{}", r.written,
                             r.errors.empty() ? std::string()
                                              : "; " + std::to_string(r.errors.size()) +
                                                    " refused, first: " + r.errors.front());
          ++self->engine_rebuilds_;
          co_await offload(self->impl_->pool, [self] { self->observer_->write_marker(); });
          break;
        } catch (const std::exception& e) {
          problem = e.what();
        }
      }
      const auto delay = self->impl_->engine_delays.next();
      SPDLOG_LOGGER_WARN(store_logger(), "preparing the engine: {}; retrying in {} ms", problem,
                         delay.count());
      co_await sleep_for(self->impl_->engine_timer, delay);
    }
    if (self->stopping_) {
      co_return;
    }
    if (self->parts_.dir &&
        (self->base_loaded_ || !self->parts_.dir->backup().empty())) {
      self->state_.set_restored_from_backup();
      if (self->state_.ready()) {
        SPDLOG_LOGGER_INFO(logger(), "ready from the backup (stale until the server answers)");
      }
    }
    // (3) The server connection.
    feed_handlers h;
    h.on_connected = [self](const feed_connection_info& info) { self->on_connected(info); };
    h.on_update = [self](model::data_update u, const std::string&) { self->on_update(std::move(u)); };
    h.on_disconnected = [self](const std::string& reason) { self->on_disconnected(reason); };
    h.on_log_id = [self](const std::string& id) { self->on_log_id(id); };
    h.resume_after = [self]() -> std::uint64_t {
      return self->base_loaded_ ? self->updater_->last_applied_seq().value_or(0) : 0;
    };
    self->parts_.feed->start(std::move(h));
    // (4) Watch the engine.
    self->start_watch();
  };
  net::co_spawn(impl_->ioc, startup(this), [this](std::exception_ptr ep) {
    if (ep && !stopping_) {
      // A half-done start cannot be redone safely (the feed may be running): fail /healthy so
      // the orchestrator restarts the process.
      const std::string why = "startup failed: " + describe(ep);
      SPDLOG_LOGGER_ERROR(logger(), "{}", why);
      state_.set_fatal(why);
    }
  });
}

void data_agent::start_watch() {
  auto watch = [](data_agent* self) -> net::awaitable<void> {
    if (self->rewriting_) {
      // A previous run died inside a rewrite (the supervisor restarted it): release the hold.
      self->rewriting_ = false;
      self->updater_->hold(false);
    }
    const auto tick = std::max(std::chrono::milliseconds(1),
                               std::min(self->options_.probe_interval, self->options_.marker_interval));
    auto last_marker_check = std::chrono::steady_clock::now();
    while (!self->stopping_) {
      co_await sleep_for(self->impl_->probe_timer, tick);
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
        SPDLOG_LOGGER_WARN(store_logger(), "policy engine reachable again");
      }
      if (!up || self->rewriting_) {
        continue;
      }
      bool rewrite = self->observer_->resync_needed.load();
      const auto now = std::chrono::steady_clock::now();
      if (!was_up || self->observer_->marker_owed.load() ||
          now - last_marker_check >= self->options_.marker_interval) {
        last_marker_check = now;
        // Read before the GET: a first write may put the marker in place while the GET is
        // under way, and a marker written after the GET looked is not a lost one.
        const bool marker_was_in_place = self->observer_->marker_in_place.load();
        // Taken before the GET too: a marker that becomes owed while it runs stays owed.
        const bool was_owed = self->observer_->marker_owed.exchange(false);
        const auto status = co_await offload(
            self->impl_->pool, [store = self->parts_.store.get()] { return check_marker(*store); });
        if (was_owed && status != marker_status::present) {
          self->observer_->marker_owed.store(true);
        }
        if (status == marker_status::missing && marker_was_in_place) {
          SPDLOG_LOGGER_WARN(store_logger(), "the engine lost our marker document (restarted "
                             "empty?): rewriting everything");
          rewrite = true;
        }
      } else if (rewrite) {
        SPDLOG_LOGGER_WARN(store_logger(), "writes gave up while the engine was unreachable: "
                           "rewriting everything");
      }
      if (!rewrite || self->stopping_) {
        continue;
      }
      // Rewrite: no update may write while older data is replayed under it.
      self->rewriting_ = true;
      self->updater_->hold(true);
      while (self->updater_->running() > 0 && !self->stopping_) {
        co_await sleep_for(self->impl_->rewrite_timer, std::chrono::milliseconds(10));
      }
      bool ok = !self->stopping_;
      std::string problem;
      if (ok) {
        try {
          if (self->parts_.dir && !self->parts_.dir->backup().empty()) {
            const auto r = co_await offload(self->impl_->pool, [self] {
              return self->parts_.dir->backup().restore(*self->parts_.store);
            });
            SPDLOG_LOGGER_INFO(store_logger(), "rewrote {} writes from the backup{}", r.written,
                               r.errors.empty() ? std::string()
                                                : "; " + std::to_string(r.errors.size()) +
                                                      " refused, first: " + r.errors.front());
          }
          co_await offload(self->impl_->pool, [self] { self->observer_->write_marker(); });
        } catch (const std::exception& e) {
          ok = false;
          problem = e.what();
        }
      }
      self->updater_->hold(false);
      self->rewriting_ = false;
      if (!ok) {
        if (!self->stopping_) {
          SPDLOG_LOGGER_WARN(store_logger(), "rewrite failed ({}); trying again", problem);
        }
        continue;
      }
      self->observer_->resync_needed.store(false);
      ++self->rewrites_;
      ++self->engine_rebuilds_;
      if (!self->parts_.dir) {
        // Nothing kept locally: start over from the server.
        SPDLOG_LOGGER_WARN(store_logger(), "no data directory: reloading from the server");
        self->base_loaded_ = false;
        self->updater_->set_applied_seq(std::nullopt);
        if (self->connected_ && self->protocol_) {
          self->parts_.feed->reconnect();
        } else if (self->connected_) {
          self->start_base_load(self->server_index_);
        }
      }
    }
  };
  supervise(
      impl_->ioc, "engine watch", [this, watch] { return watch(this); },
      [this] { return stopping_; }, [this](const std::string& why) { state_.set_fatal(why); });
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
  if (parts_.reporter) {
    parts_.reporter->stop();
  }
  held_.clear();
  held_bytes_ = 0;
  impl_->refresh->stop();
  impl_->engine_timer.cancel();
  impl_->probe_timer.cancel();
  impl_->base_timer.cancel();
  impl_->rewrite_timer.cancel();
}

void data_agent::on_connected(const feed_connection_info& info) {
  connected_ = true;
  protocol_ = info.protocol_echoed;
  server_index_ = info.server_index;
  impl_->base_delays.reset();
  if (ever_connected_) {
    metrics_.count_reconnect();
  }
  ever_connected_ = true;
  state_.set_connected(true, info.server_url);
  if (!protocol_ || !base_loaded_) {
    start_base_load(info.server_index);
    return;
  }
  // Resuming: the server replays what we missed; the engine already holds the rest.
  ++base_generation_;
  impl_->base_timer.cancel();
  state_.set_initial_load_done();
  flush_held();
  if (!impl_->refresh->configured() && parts_.load_refresh_schedule) {
    schedule_refreshes(info.server_index);
  }
}

void data_agent::schedule_refreshes(std::size_t server_index) {
  // The base data was loaded by an earlier process (the data directory says so) and is not
  // reloaded, but which entries it refreshes periodically is not saved: ask the server again,
  // and only schedule (the refreshes then bring those entries up to date).
  auto load = [](data_agent* self, std::uint64_t gen, std::size_t index) -> net::awaitable<void> {
    while (!self->stopping_ && gen == self->base_generation_) {
      std::string error;
      std::vector<model::data_source_entry> entries;
      try {
        entries = co_await offload(self->impl_->pool, [self, index] {
          return self->parts_.load_refresh_schedule(index);
        });
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (self->stopping_ || gen != self->base_generation_) {
        co_return;
      }
      if (error.empty()) {
        self->impl_->refresh->reset(entries);
        co_return;
      }
      const auto delay = self->impl_->base_delays.next();
      SPDLOG_LOGGER_WARN(logger(), "periodic refreshes not scheduled yet: {}; retrying in {} ms",
                         error, delay.count());
      co_await sleep_for(self->impl_->base_timer, delay);
    }
  };
  net::co_spawn(impl_->ioc, load(this, base_generation_, server_index), log_task_failure);
}

void data_agent::on_log_id(const std::string& id) {
  if (id.empty() || id == server_log_id_) {
    return;
  }
  if (!server_log_id_.empty()) {
    // The server's update log is not the one our seqs count (it lost its files, or keeps them in
    // memory and restarted): its seqs start over. Reload the base data and take its whole log.
    SPDLOG_LOGGER_WARN(logger(), "the server's update log changed (id {} -> {}): its sequence "
                       "numbers started over; reloading the base data and replaying its log",
                       server_log_id_, id);
    base_loaded_ = false;
    updater_->restart_sequence();
    metrics_.reset_server_seq();
  }
  server_log_id_ = id;
  save_state();
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
  const auto received = std::chrono::steady_clock::now();
  metrics_.count_notify();
  if (update.seq) {
    metrics_.note_server_seq(*update.seq);
  }
  if (holding_) {
    if (held_.size() >= options_.max_held_updates) {
      state_.count_update_dropped();
      SPDLOG_LOGGER_ERROR(logger(), "update id={} dropped: {} updates already wait for the base "
                          "data", update.id.value_or(""), held_.size());
      return;
    }
    held_bytes_ += held_size(update);
    held_.push_back(held_update{std::move(update), received});
    apply_back_pressure();
    return;
  }
  submit_update(std::move(update), received);
}

std::size_t data_agent::queued_bytes() const noexcept {
  return updater_->queued_bytes() + held_bytes_;
}

void data_agent::apply_back_pressure() {
  const std::size_t q = queued_bytes();
  if (!feed_paused_ && q >= options_.queue_bytes) {
    feed_paused_ = true;
    SPDLOG_LOGGER_WARN(logger(), "{} bytes of updates queued (limit {}): not reading the server "
                       "until half of it is applied", q, options_.queue_bytes);
    parts_.feed->pause(true);
  } else if (feed_paused_ && q < options_.queue_bytes / 2) {
    feed_paused_ = false;
    SPDLOG_LOGGER_INFO(logger(), "queue drained to {} bytes: reading the server again", q);
    parts_.feed->pause(false);
  }
  if (replay_needed_ && !feed_paused_ && q < options_.queue_bytes / 2 &&
      updater_->pending() < 1000 && connected_ && protocol_) {
    replay_needed_ = false;
    SPDLOG_LOGGER_WARN(logger(), "resubscribing so the server replays the updates refused "
                       "while the queue was full");
    parts_.feed->reconnect();
  }
}

void data_agent::submit_update(model::data_update update,
                               std::chrono::steady_clock::time_point received) {
  const bool ack = protocol_ && update.id && update.seq;
  applied_ack a;
  if (ack) {
    a.id = *update.id;
    a.seq = *update.seq;
  }
  const bool report = parts_.reporter != nullptr;
  std::optional<std::string> report_id;
  std::string callback_json;
  if (report) {
    report_id = update.id;
    callback_json = update.callback_json;
  }
  const bool has_seq = update.seq.has_value();
  const auto r = updater_->submit(
      std::move(update),
      [this, ack, a, report, report_id, callback_json,
       received](const update_outcome& out) mutable {
        if (out.ok) {
          metrics_.count_applied(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
        } else {
          metrics_.count_failed(out.failure_reasons.empty() ? failure_reason::other
                                                            : out.failure_reasons.front());
        }
        if (stopping_) {
          return;
        }
        if (ack) {
          a.ok = out.ok;
          a.errors = out.errors;
          parts_.feed->acknowledge(std::move(a));
        }
        if (report) {
          parts_.reporter->report(report_id, callback_json, out.reports);
        }
        save_state();
      });
  // A duplicate still in flight is acknowledged when its first copy completes; one that already
  // completed is acknowledged again (the first acknowledgement may have been lost with the
  // connection that brought the replay).
  if (ack && r == submit_result::already_applied) {
    a.ok = true;
    parts_.feed->acknowledge(std::move(a));
  } else if (ack && r == submit_result::duplicate) {
    if (const auto ok = updater_->finished_ok(a.seq)) {
      a.ok = *ok;
      if (!a.ok) {
        a.errors = {"failed (reported when it was first applied)"};
      }
      parts_.feed->acknowledge(std::move(a));
    }
  }
  if (r == submit_result::overflow && has_seq && protocol_) {
    replay_needed_ = true;  // the watermark stays below its seq; resubscribed once drained
  }
  apply_back_pressure();
}

void data_agent::flush_held() {
  holding_ = false;
  while (!held_.empty()) {
    held_bytes_ -= std::min(held_bytes_, held_size(held_.front().update));
    submit_update(std::move(held_.front().update), held_.front().received);
    held_.pop_front();
  }
  apply_back_pressure();
}

void data_agent::save_state() {
  if (!parts_.dir || stopping_) {
    return;
  }
  if (saving_) {
    save_again_ = true;
    return;
  }
  saving_ = true;
  auto run = [](data_agent* self) -> net::awaitable<void> {
    do {
      self->save_again_ = false;
      const saved_state st{self->updater_->last_applied_seq(), self->base_loaded_,
                           self->server_log_id_};
      // Trivial captures only (GCC 12 destroys a coroutine temporary's string capture twice):
      // st lives in the coroutine frame until the offloaded save has finished.
      const saved_state* state = &st;
      try {
        co_await offload(self->impl_->pool, [self, state] { self->parts_.dir->save(*state); });
      } catch (const std::exception& e) {
        SPDLOG_LOGGER_ERROR(log::get("agent.backup"), "cannot save the agent state: {}", e.what());
      }
    } while (self->save_again_ && !self->stopping_);
    self->saving_ = false;
  };
  net::co_spawn(impl_->ioc, run(this), log_task_failure);
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
  impl_->refresh->cancel();  // rebuilt from the entries this load brings
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
        self->impl_->refresh->reset(entries);
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
            if (!self->state_.ready() || self->state_.stale()) {
              SPDLOG_LOGGER_INFO(logger(), "initial data load done ({} base entries)", count);
            }
            self->state_.set_initial_load_done();
            self->base_loaded_ = true;
            self->save_state();
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
  if (!cfg.data_dir.empty()) {
    try {
      parts.dir = data_directory::open(cfg.data_dir);
    } catch (const std::exception& e) {
      throw config::config_error({config::problem{"agent.data_dir", e.what()}});
    }
    SPDLOG_LOGGER_INFO(log::get("agent.backup"), "data directory {}: agent id {}, {} backed-up "
                       "writes, last applied seq {}", parts.dir->path(), parts.dir->agent_id(),
                       parts.dir->backup().size(),
                       parts.dir->loaded().last_applied_seq
                           ? std::to_string(*parts.dir->loaded().last_applied_seq)
                           : std::string("none"));
  } else {
    SPDLOG_LOGGER_WARN(log::get("agent.backup"),
                       "no data directory (--data-dir, OPAL_CLIENT_DATA_DIR, agent.data_dir): "
                       "nothing survives a restart; the engine is reloaded from the server, and "
                       "without the server it stays empty");
  }

  ws_feed_options wo;
  wo.server_urls = cfg.server_urls;
  wo.token = cfg.client_token;
  wo.topics = cfg.data_topics;
  wo.reconnect_min = cfg.reconnect_min;
  wo.reconnect_max = cfg.reconnect_max;
  wo.ping_interval = cfg.ws_ping_interval;
  wo.max_message_bytes = cfg.ws_max_message_bytes;
  wo.tls = cfg.tls;
  // Blobs the server fetched come from the server the feed is connected to (first until then).
  auto current_server = std::make_shared<std::atomic<std::size_t>>(0);
  wo.current_server = current_server;
  data_agent_options ao;
  ao.agent_id = parts.dir ? parts.dir->agent_id() : generate_agent_id();
  wo.agent_id = ao.agent_id;
  parts.feed = std::make_unique<ws_update_feed>(ioc, wo);

  http_fetcher_options fo;
  fo.connect_timeout = cfg.fetch_connect_timeout;
  fo.idle_timeout = cfg.fetch_idle_timeout;
  fo.total_timeout = cfg.fetch_total_timeout;
  fo.low_speed_limit = cfg.fetch_low_speed_limit;
  fo.low_speed_time = cfg.fetch_low_speed_time;
  fo.max_bytes = cfg.fetch_max_bytes;
  fo.max_redirects = cfg.fetch_max_redirects;
  fo.max_per_host = cfg.fetch_max_per_host;
  fo.proxy = cfg.fetch_proxy;
  fo.no_proxy = cfg.fetch_no_proxy;
  fo.temp_dir = cfg.temp_dir;
  fo.tls = cfg.tls;
  fo.rules = std::make_shared<const http_client::source_rules>(agent_source_rules(cfg));
  SPDLOG_LOGGER_INFO(log::get("agent.fetch"),
                     "source rules: {} built-in denies (link-local, cloud metadata, own store and "
                     "API), {} from fetch.deny, {} from fetch.allow{}",
                     fo.rules->describe().size() - cfg.fetch_deny.size() - cfg.fetch_allow.size(),
                     cfg.fetch_deny.size(), cfg.fetch_allow.size(),
                     cfg.fetch_allow.empty() ? "" : " (nothing else is fetched)");
  fo.secrets = std::make_shared<const secret_refs>(
      cfg.fetch_secrets_dir, [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
      });
  fo.blocking = [&pool](std::function<void()> work) { net::post(pool, std::move(work)); };
  {
    // Not under the source rules: the agent's own server is its trusted configuration.
    std::vector<std::string> bases;
    for (std::size_t i = 0; i < cfg.server_urls.size(); ++i) {
      bases.push_back(server_http_base(cfg.server_urls[i],
                                       cfg.server_urls.size() == 1
                                           ? std::string("server.url")
                                           : "server.url[" + std::to_string(i) + "]"));
    }
    if (!bases.empty()) {
      fo.blob_server = [bases = std::move(bases), token = cfg.client_token, current_server] {
        return blob_origin{bases[std::min(current_server->load(), bases.size() - 1)], token};
      };
    }
  }
  parts.fetcher = std::make_unique<http_fetcher>(fo);

  opa_store_options so;
  so.url = cfg.policy_store_url;
  if (cfg.policy_store_auth_type == "token") {
    so.token = cfg.policy_store_auth_token;
  }
  so.timeout = cfg.store_timeout;
  so.tls = cfg.policy_store_tls;
  parts.store = std::make_unique<opa_store>(so);

  parts.load_base = [urls = cfg.server_urls, explicit_url = cfg.data_config_url,
                     token = cfg.client_token, connect = cfg.fetch_connect_timeout,
                     idle = cfg.fetch_idle_timeout, total = cfg.fetch_total_timeout,
                     tls = cfg.tls](std::size_t index) {
    base_config_request req;
    req.url = !explicit_url.empty() ? explicit_url
                                    : default_data_config_url(urls.at(std::min(index, urls.size() - 1)));
    req.token = token;
    req.connect_timeout = connect;
    req.idle_timeout = idle;
    req.total_timeout = total;
    req.tls = tls;
    return load_base_config(req);
  };
  parts.load_refresh_schedule = parts.load_base;

  if (cfg.report_on_updates) {
    reporter_options ro;
    ro.default_callbacks = cfg.report_callbacks;
    if (ro.default_callbacks.empty()) {
      std::string base = cfg.server_urls.front();
      while (!base.empty() && base.back() == '/') {
        base.pop_back();
      }
      ro.default_callbacks.push_back(base + "/data/callback_report");
    }
    ro.token = cfg.client_token;
    ro.rules = fo.rules;
    ro.tls = cfg.tls;
    for (const auto& u : cfg.server_urls) {
      ro.token_origins.push_back(url_origin(u));
    }
    parts.reporter = std::make_unique<update_reporter>(ioc, pool, ro);
  }

  ao.topics = cfg.data_topics;
  ao.max_in_flight = cfg.fetch_max_in_flight;
  ao.degraded_after = cfg.fetch_degraded_after;
  ao.retry_min = cfg.reconnect_min;
  ao.retry_max = cfg.reconnect_max;
  ao.marker_interval = cfg.marker_interval;
  ao.ready_when_stale = cfg.ready_when_stale;
  ao.entry_retry_attempts = cfg.retry_attempts;
  ao.entry_retry_min = cfg.retry_base;
  ao.entry_retry_max = cfg.retry_max;
  ao.queue_bytes = cfg.queue_bytes;
  api_options api;
  api.host = cfg.api_host;
  api.port = cfg.api_port;
  api.port_file = cfg.port_file;
  ao.api = api;
  return std::make_unique<data_agent>(ioc, pool, ao, std::move(parts));
}

}  // namespace pdl::agent
