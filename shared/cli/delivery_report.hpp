#pragma once
// How `publish-data-update --wait` turns a delivery status into lines and an exit code.
// Pure: no I/O beyond the two streams it is given (unit-tested alone).
#include <chrono>
#include <iosfwd>
#include <string>

#include "shared/publisher/delivery_status.hpp"

namespace pdl::cli {

/** Exit codes of `publish-data-update --wait`. */
enum wait_exit : int {
  wait_all_applied = 0,  // every subscribed agent applied the update
  wait_failed = 1,       // an agent failed (or any error, including a server without the route)
  wait_timed_out = 3,    // none failed, but some had not applied it at the deadline
};

/** The message for a server that cannot tell (OPAL's, or a pdl server without the route). */
inline constexpr const char* no_delivery_status_message =
    "the server does not report delivery status (OPAL server?)";

/**
 * Prints "Applied by N agent(s): a, b" to @p out (when some applied, or when all did), then to
 * @p err one line per failed agent ("agent-b: failed: /users: ...; ...") and per pending agent
 * ("agent-c: not applied within 30s"), and a warning when no agent is subscribed at all.
 * @p waited is the --wait value, for the message. @returns a wait_exit: failed wins over
 * timed out.
 */
int report_delivery(const publisher::delivery_status& status, std::chrono::milliseconds waited,
                    std::ostream& out, std::ostream& err);

/** "30s", "2.5s", "250ms": a duration as the user typed it, roughly. */
std::string format_wait(std::chrono::milliseconds waited);

}  // namespace pdl::cli
