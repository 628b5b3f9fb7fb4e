#include "agent/supervisor.hpp"

#include "agent/backoff.hpp"
#include "shared/log/log.hpp"

namespace pdl::agent {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("agent");
  return l;
}

struct supervised {
  supervised(net::io_context& i, std::string n, std::function<net::awaitable<void>()> m,
             std::function<bool()> s, std::function<void(const std::string&)> g,
             supervisor_options o)
      : ioc(i), name(std::move(n)), make(std::move(m)), stopping(std::move(s)),
        on_gave_up(std::move(g)), options(o) {}

  net::io_context& ioc;
  std::string name;
  std::function<net::awaitable<void>()> make;
  std::function<bool()> stopping;
  std::function<void(const std::string&)> on_gave_up;
  supervisor_options options;
  net::steady_timer timer{ioc};
  backoff delays{options.delay, options.max_delay, 0, options.delay};
  int failures = 0;  // consecutive
  bool gave_up = false;
  std::chrono::steady_clock::time_point started;
};

void launch(const std::shared_ptr<supervised>& s);

void on_end(const std::shared_ptr<supervised>& s, const std::exception_ptr& ep) {
  if (!ep) {
    return;
  }
  const std::string why = describe(ep);
  if (s->stopping()) {
    SPDLOG_LOGGER_DEBUG(logger(), "{} ended while stopping: {}", s->name, why);
    return;
  }
  const auto ran = std::chrono::steady_clock::now() - s->started;
  if (ran >= s->options.healthy_run) {
    s->failures = 0;
    s->delays.reset();
  }
  ++s->failures;
  const auto delay = s->delays.next();
  SPDLOG_LOGGER_ERROR(logger(), "{} failed: {}; restarting it in {} ms (failure {} in a row)",
                      s->name, why, delay.count(), s->failures);
  if (s->failures >= s->options.give_up_after && !s->gave_up && s->on_gave_up) {
    s->gave_up = true;
    s->on_gave_up(s->name + " keeps failing: " + why);
  }
  s->timer.expires_after(delay);
  s->timer.async_wait([s](boost::system::error_code ec) {
    if (!ec && !s->stopping()) {
      launch(s);
    }
  });
}

// One run; make() itself may throw too, and that counts as the run failing.
net::awaitable<void> run_once(std::shared_ptr<supervised> s) { co_await s->make(); }

void launch(const std::shared_ptr<supervised>& s) {
  s->started = std::chrono::steady_clock::now();
  net::co_spawn(s->ioc, run_once(s), [s](std::exception_ptr ep) { on_end(s, ep); });
}

}  // namespace

std::string describe(const std::exception_ptr& ep) {
  if (!ep) {
    return "no error";
  }
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

void supervise(net::io_context& ioc, std::string name,
               std::function<net::awaitable<void>()> make, std::function<bool()> stopping,
               std::function<void(const std::string&)> on_gave_up, supervisor_options options) {
  auto s = std::make_shared<supervised>(ioc, std::move(name), std::move(make),
                                        std::move(stopping), std::move(on_gave_up), options);
  launch(s);
}

}  // namespace pdl::agent
