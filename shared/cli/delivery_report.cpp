#include "shared/cli/delivery_report.hpp"

#include <ostream>

#include <fmt/format.h>

namespace pdl::cli {
namespace {

std::string joined(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) {
      out += sep;
    }
    out += s;
  }
  return out;
}

}  // namespace

std::string format_wait(std::chrono::milliseconds waited) {
  const auto ms = waited.count();
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  if (ms < 1000) {
    return std::to_string(ms) + "ms";
  }
  return fmt::format("{:g}s", static_cast<double>(ms) / 1000.0);
}

int report_delivery(const publisher::delivery_status& status, std::chrono::milliseconds waited,
                    std::ostream& out, std::ostream& err) {
  if (status.all_applied() || !status.applied.empty()) {
    out << "Applied by " << status.applied.size() << " agent(s)";
    if (!status.applied.empty()) {
      out << ": " << joined(status.applied, ", ");
    }
    out << '\n';
  }
  if (status.subscribed.empty() && status.failed.empty() && status.pending.empty() &&
      status.waiting_replicas.empty()) {
    // Not an error (an agent subscribing later gets it by replay), but often a topic typo.
    err << "warning: no agent is subscribed to "
        << (status.topics.empty() ? std::string("its topics")
                                  : "topics " + joined(status.topics, ", "))
        << '\n';
  }
  for (const auto& f : status.failed) {
    err << f.agent << ": failed";
    if (!f.errors.empty()) {
      err << ": " << joined(f.errors, "; ");
    }
    err << '\n';
  }
  for (const auto& agent : status.pending) {
    err << agent << ": not applied within " << format_wait(waited) << '\n';
  }
  if (!status.waiting_replicas.empty()) {
    // Their agents are unknown: the update may be waiting on them too.
    err << status.waiting_replicas.size()
        << " server replica(s) have not reported their agents within " << format_wait(waited)
        << ": " << joined(status.waiting_replicas, ", ") << '\n';
  } else if (!status.complete && status.pending.empty() && status.failed.empty()) {
    err << "the server reports the delivery as not complete\n";
  }
  if (!status.pending.empty()) {
    // Said once, so a user with OPAL agents in the mix knows why they never show up as applied.
    err << "note: agents that do not acknowledge updates (OPAL clients) always stay pending\n";
  }
  if (!status.failed.empty()) {
    return wait_failed;
  }
  return status.complete ? wait_all_applied : wait_timed_out;
}

}  // namespace pdl::cli
