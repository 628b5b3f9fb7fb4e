#pragma once
// Keeps the agent's long-lived loops alive: a loop that dies by an exception (of any type) is
// logged and started again, so one unexpected error never silently ends recovery.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "shared/net.hpp"

namespace pdl::agent {

struct supervisor_options {
  /** Wait before a restart: agent/backoff (exponential with jitter, from delay up to
   *  max_delay), back to the start after a run longer than healthy_run. */
  std::chrono::milliseconds delay{200};
  std::chrono::milliseconds max_delay{10000};
  /** After this many consecutive failures (none ran longer than healthy_run), on_gave_up runs
   *  once (the owner fails /healthy so the orchestrator restarts the pod); restarts go on. */
  int give_up_after = 10;
  std::chrono::milliseconds healthy_run{60000};
};

/**
 * Runs the coroutine @p make returns on @p ioc; when it ends by an exception, logs it once on
 * the "agent" logger (with @p name), and, unless @p stopping() is true, runs a new one after a
 * backoff. A loop that returns normally is not restarted.
 * @par Thread safety
 * Call on @p ioc's thread; every callback runs there. @p make, @p stopping and @p on_gave_up are
 * kept until the loop ends for good; whatever they refer to must outlive that (the agent stops
 * them by making stopping() true and cancelling their timers).
 */
void supervise(net::io_context& ioc, std::string name,
               std::function<net::awaitable<void>()> make, std::function<bool()> stopping,
               std::function<void(const std::string& why)> on_gave_up = {},
               supervisor_options options = {});

/** The text of an exception_ptr's exception ("unknown exception" for non-std types). */
std::string describe(const std::exception_ptr& ep);

}  // namespace pdl::agent
