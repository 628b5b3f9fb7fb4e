#include "agent/agent_state.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pdl::agent {
namespace {

std::string iso(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

void agent_state::set_engine_reachable(bool up) {
  engine_reachable_ = up;
  engine_seen_ = engine_seen_ || up;
  update_ready();
}

void agent_state::set_connected(bool connected, std::string server_url, std::string reason) {
  if (connected && !connected_) {
    ++reconnects_;
    // A fresh connection reloads the base data, so an old write failure no longer describes us.
    failing_writes_.clear();
    last_write_error_.clear();
  }
  connected_ = connected;
  if (connected) {
    stale_ = false;
  }
  if (!server_url.empty()) {
    server_url_ = std::move(server_url);
  }
  disconnect_reason_ = connected ? std::string() : std::move(reason);
}

void agent_state::set_initial_load_done() {
  initial_load_done_ = true;
  update_ready();
}

void agent_state::set_restored_from_backup() {
  if (offline_mode_ && !connected_) {
    stale_ = true;
    set_initial_load_done();
  }
}

void agent_state::update_ready() {
  if (engine_seen_ && initial_load_done_) {
    ready_ = true;
  }
}

void agent_state::record_success(const std::string& dst_path) {
  auto& d = destinations_[dst_path];
  d.last_success = std::chrono::system_clock::now();
  ++d.successes;
  ++entries_ok_;
  failing_writes_.erase(dst_path);
}

void agent_state::record_write_failure(const std::string& dst_path, const std::string& error) {
  auto& d = destinations_[dst_path];
  d.last_error_at = std::chrono::system_clock::now();
  d.last_error = error;
  ++d.failures;
  ++entries_failed_;
  last_write_error_ = "write to " + (dst_path.empty() ? std::string("/") : dst_path) +
                      " failed: " + error;
  failing_writes_[dst_path] = last_write_error_;
}

void agent_state::record_fetch_failure(const std::string& dst_path, const std::string& error) {
  auto& d = destinations_[dst_path];
  d.last_error_at = std::chrono::system_clock::now();
  d.last_error = error;
  ++d.failures;
  ++entries_failed_;
}

health_verdict agent_state::health() const {
  if (!fatal_.empty()) {
    return {false, fatal_};
  }
  if (!engine_reachable_) {
    return {false, "policy engine unreachable"};
  }
  std::string offline_reason;
  if (!connected_) {
    std::string reason = disconnect_reason_.empty()
                             ? std::string("not connected to the server")
                             : "not connected to the server: " + disconnect_reason_;
    if (!(offline_mode_ && ready_)) {
      return {false, std::move(reason)};
    }
    offline_reason = std::move(reason);
  }
  if (!failing_writes_.empty()) {
    const auto it = std::find_if(failing_writes_.begin(), failing_writes_.end(),
                                 [&](const auto& f) { return f.second == last_write_error_; });
    std::string reason = it != failing_writes_.end() ? it->second
                                                     : failing_writes_.begin()->second;
    if (failing_writes_.size() > 1) {
      reason += " (and " + std::to_string(failing_writes_.size() - 1) + " more destinations)";
    }
    return {false, reason};
  }
  const bool online = offline_reason.empty();
  health_verdict verdict{true, std::move(offline_reason), online};
  if (degraded_after_.count() > 0) {
    if (const auto age = oldest_pending_age(); age && *age > degraded_after_) {
      verdict.degraded = true;
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*age).count();
      std::string why = fmt::format(
          "an update has been pending for {} s (more than {:g} s): a slow or unreachable data "
          "source?",
          seconds, static_cast<double>(degraded_after_.count()) / 1000.0);
      verdict.reason = verdict.reason.empty() ? why : verdict.reason + "; " + why;
    }
  }
  return verdict;
}

std::optional<std::chrono::steady_clock::duration> agent_state::oldest_pending_age() const {
  if (!pending_since_) {
    return std::nullopt;
  }
  const auto since = pending_since_();
  if (!since) {
    return std::nullopt;
  }
  return std::chrono::steady_clock::now() - *since;
}

std::string agent_state::status_json() const {
  nlohmann::json j;
  const auto h = health();
  j["ready"] = ready_;
  j["healthy"] = h.healthy;
  j["online"] = h.online && connected_;
  j["stale"] = stale_;
  j["degraded"] = h.degraded;
  if (const auto age = oldest_pending_age()) {
    j["oldest_pending_update_seconds"] = std::chrono::duration<double>(*age).count();
  }
  if (!agent_id_.empty()) {
    j["agent_id"] = agent_id_;
  }
  if (!h.reason.empty()) {
    j["reason"] = h.reason;
  }
  j["server"] = {{"url", server_url_}, {"connected", connected_}, {"connections", reconnects_}};
  if (!connected_ && !disconnect_reason_.empty()) {
    j["server"]["last_error"] = disconnect_reason_;
  }
  j["engine"] = {{"reachable", engine_reachable_}};
  j["initial_load_done"] = initial_load_done_;
  j["last_applied_seq"] = last_applied_seq_ ? nlohmann::json(*last_applied_seq_) : nlohmann::json();
  j["counts"] = {{"updates_received", updates_received_},
                 {"updates_dropped", updates_dropped_},
                 {"duplicates", duplicates_},
                 {"entries_ok", entries_ok_},
                 {"entries_failed", entries_failed_}};
  auto& dests = j["destinations"] = nlohmann::json::object();
  for (const auto& [path, d] : destinations_) {
    nlohmann::json e{{"successes", d.successes}, {"failures", d.failures}};
    e["last_success"] = d.last_success ? nlohmann::json(iso(*d.last_success)) : nlohmann::json();
    e["last_error_at"] = d.last_error_at ? nlohmann::json(iso(*d.last_error_at)) : nlohmann::json();
    e["last_error"] = d.last_error.empty() ? nlohmann::json() : nlohmann::json(d.last_error);
    dests[path.empty() ? "/" : path] = std::move(e);
  }
  return j.dump();
}

}  // namespace pdl::agent
