#include "agent/periodic_refresh.hpp"

#include <cmath>

#include "agent/supervisor.hpp"
#include "agent/topic_filter.hpp"
#include "shared/http/client.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"

namespace pdl::agent {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("agent.refresh");
  return l;
}

std::string display_path(const std::string& p) { return p.empty() ? "/" : p; }

// Where the data comes from, safe to log: never a query string, userinfo or header value.
std::string display_source(const model::data_source_entry& e) {
  return e.url.empty() ? std::string("inline data") : http_client::redact_url(e.url);
}

}  // namespace

struct periodic_refresh::slot {
  slot(net::io_context& ioc, model::data_source_entry e, std::chrono::milliseconds every)
      : entry(std::move(e)), interval(every), timer(ioc) {}

  model::data_source_entry entry;
  std::chrono::milliseconds interval;
  net::steady_timer timer;
  // Set by cancel(); from then on neither the coroutine nor a late completion touches the
  // periodic_refresh (which may be gone): they only hold this slot.
  bool cancelled = false;
  bool in_flight = false;
};

struct periodic_refresh::runner {
  static net::awaitable<void> run(std::shared_ptr<slot> s, periodic_refresh* self) {
    while (!s->cancelled) {
      s->timer.expires_after(jittered(s->interval, self->rng_));
      boost::system::error_code ec;
      co_await s->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (s->cancelled) {
        co_return;
      }
      self->fire(s);
    }
  }
};

periodic_refresh::periodic_refresh(net::io_context& ioc, submit_fn submit,
                                   periodic_refresh_options options)
    : ioc_(ioc),
      submit_(std::move(submit)),
      options_(std::move(options)),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

periodic_refresh::~periodic_refresh() { cancel(); }

std::optional<std::chrono::milliseconds> periodic_refresh::bounded_interval(
    double seconds, std::chrono::milliseconds min, std::chrono::milliseconds max, bool* adjusted) {
  if (adjusted != nullptr) {
    *adjusted = false;
  }
  if (!std::isfinite(seconds) || seconds <= 0) {
    return std::nullopt;
  }
  // Compared in seconds first: a huge double must not be converted to an integer count.
  const double min_s = static_cast<double>(min.count()) / 1000.0;
  const double max_s = static_cast<double>(max.count()) / 1000.0;
  if (seconds < min_s || seconds > max_s) {
    if (adjusted != nullptr) {
      *adjusted = true;
    }
    return seconds < min_s ? min : max;
  }
  return std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(seconds * 1000.0)));
}

std::chrono::milliseconds periodic_refresh::jittered(std::chrono::milliseconds interval,
                                                     std::mt19937_64& rng) {
  std::uniform_real_distribution<double> factor(0.9, 1.1);
  const auto ms = std::llround(static_cast<double>(interval.count()) * factor(rng));
  return std::chrono::milliseconds(std::max<long long>(1, ms));
}

void periodic_refresh::reset(const std::vector<model::data_source_entry>& entries) {
  cancel();
  if (stopped_) {
    return;
  }
  configured_ = true;
  for (const auto& e : entries) {
    if (!e.periodic_update_interval || !entry_matches(e, options_.topics)) {
      continue;
    }
    const double seconds = *e.periodic_update_interval;
    bool adjusted = false;
    const auto interval =
        bounded_interval(seconds, options_.min_interval, options_.max_interval, &adjusted);
    if (!interval) {
      SPDLOG_LOGGER_WARN(logger(), "base entry {}: periodic_update_interval must be a positive "
                         "number of seconds; not refreshed", display_path(e.dst_path));
      continue;
    }
    if (adjusted) {
      SPDLOG_LOGGER_WARN(logger(), "base entry {}: periodic_update_interval {} s is outside "
                         "[{}, {}] s; using {} s", display_path(e.dst_path), seconds,
                         options_.min_interval.count() / 1000.0,
                         options_.max_interval.count() / 1000.0, interval->count() / 1000.0);
    }
    auto s = std::make_shared<slot>(ioc_, e, *interval);
    slots_.push_back(s);
    supervise(
        ioc_, "periodic refresh of " + display_path(e.dst_path),
        [s, this] { return runner::run(s, this); }, [s] { return s->cancelled; });
  }
  if (!slots_.empty()) {
    SPDLOG_LOGGER_INFO(logger(), "periodic refresh scheduled for {} base entries", slots_.size());
  }
}

void periodic_refresh::cancel() {
  for (auto& s : slots_) {
    s->cancelled = true;
    s->timer.cancel();
  }
  slots_.clear();
}

void periodic_refresh::stop() {
  stopped_ = true;
  cancel();
}

void periodic_refresh::fire(const std::shared_ptr<slot>& s) {
  const auto path = display_path(s->entry.dst_path);
  if (s->in_flight) {
    ++skipped_;
    SPDLOG_LOGGER_DEBUG(logger(), "periodic refresh of {} skipped: the previous one is still "
                        "running", path);
    return;
  }
  model::data_update update;
  update.entries.push_back(s->entry);
  update.reason = "Periodic refresh";
  SPDLOG_LOGGER_DEBUG(logger(), "periodic refresh of {} from {}", path, display_source(s->entry));
  s->in_flight = true;
  const bool queued = submit_(std::move(update), [s](bool ok) {
    s->in_flight = false;
    if (s->cancelled) {
      return;
    }
    if (ok) {
      SPDLOG_LOGGER_DEBUG(logger(), "periodic refresh of {} applied",
                          display_path(s->entry.dst_path));
    } else {
      // The updater logged the cause (once, redacted); this says it was a refresh, and when
      // the next try comes.
      SPDLOG_LOGGER_WARN(logger(), "periodic refresh of {} from {} failed; next try in about "
                         "{} ms", display_path(s->entry.dst_path), display_source(s->entry),
                         s->interval.count());
    }
  });
  if (!queued) {
    s->in_flight = false;
    SPDLOG_LOGGER_WARN(logger(), "periodic refresh of {} not queued (the agent is stopping or "
                       "its queue is full)", path);
    return;
  }
  ++submitted_;
}

}  // namespace pdl::agent
