#include "server/delivery_tracker.hpp"

#include <algorithm>

#include <ctime>
#include <nlohmann/json.hpp>

#include "shared/model/utf8.hpp"

namespace pdl::server {
namespace {

// Agent ids and error messages come from peers: cut on a character boundary, repaired, so the
// status document always renders.
std::string cut(std::string_view s, std::size_t max) { return model::truncate_utf8(s, max); }

std::string iso_utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

delivery_tracker::delivery_tracker(std::size_t max_tracked)
    : max_tracked_(std::max<std::size_t>(max_tracked, 1)) {}

void delivery_tracker::accepted(const std::string& id, std::uint64_t seq,
                                std::vector<std::string> topics,
                                std::chrono::system_clock::time_point at) {
  std::lock_guard lock(mu_);
  update_state u;
  u.id = id;
  u.seq = seq;
  u.topics = std::move(topics);
  u.accepted_at = at;
  // Publishes may finish out of seq order by a little: keep the deque sorted.
  auto pos = std::upper_bound(updates_.begin(), updates_.end(), seq,
                              [](std::uint64_t s, const update_state& x) { return s < x.seq; });
  updates_.insert(pos, std::move(u));
  by_id_[id] = seq;
  while (updates_.size() > max_tracked_) {
    auto it = by_id_.find(updates_.front().id);
    if (it != by_id_.end() && it->second == updates_.front().seq) {
      by_id_.erase(it);
    }
    updates_.pop_front();
  }
}

delivery_tracker::update_state* delivery_tracker::find(const std::string& id, std::uint64_t seq) {
  if (!id.empty()) {
    if (auto it = by_id_.find(id); it != by_id_.end()) {
      seq = it->second;
    } else if (seq == 0) {
      return nullptr;
    }
  }
  auto it = std::lower_bound(updates_.begin(), updates_.end(), seq,
                             [](const update_state& x, std::uint64_t s) { return x.seq < s; });
  if (it == updates_.end() || it->seq != seq || seq == 0) {
    return nullptr;
  }
  return &*it;
}

std::optional<std::uint64_t> delivery_tracker::seq_of(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
}

void delivery_tracker::delivered(std::uint64_t seq, const std::string& agent) {
  std::lock_guard lock(mu_);
  update_state* u = find("", seq);
  if (u == nullptr || u->agents.size() >= max_agents_per_update) {
    return;
  }
  u->agents.try_emplace(cut(agent, max_agent_id_bytes));
}

void delivery_tracker::delivered(std::uint64_t seq,
                                 const std::vector<const std::string*>& agents) {
  std::lock_guard lock(mu_);
  update_state* u = find("", seq);
  if (u == nullptr) {
    return;
  }
  for (const std::string* agent : agents) {
    if (u->agents.size() >= max_agents_per_update) {
      return;
    }
    u->agents.try_emplace(cut(*agent, max_agent_id_bytes));
  }
}

bool delivery_tracker::acknowledged(const std::string& id, std::uint64_t seq,
                                    const std::string& agent, bool ok,
                                    std::vector<std::string> errors) {
  std::lock_guard lock(mu_);
  update_state* u = find(id, seq);
  if (u == nullptr) {
    return false;
  }
  std::string who = cut(agent, max_agent_id_bytes);
  if (u->agents.count(who) == 0 && u->agents.size() >= max_agents_per_update) {
    return true;
  }
  agent_state& a = u->agents[who];
  a.state = ok ? agent_state::kind::applied : agent_state::kind::failed;
  a.errors.clear();
  if (!ok) {
    if (errors.size() > max_errors) {
      errors.resize(max_errors);
    }
    for (auto& e : errors) {
      a.errors.push_back(cut(e, max_error_bytes));
    }
  }
  return true;
}

std::optional<std::string> delivery_tracker::status_json(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    return std::nullopt;
  }
  auto u = std::lower_bound(updates_.begin(), updates_.end(), it->second,
                            [](const update_state& x, std::uint64_t s) { return x.seq < s; });
  if (u == updates_.end() || u->seq != it->second) {
    return std::nullopt;
  }
  using nlohmann::json;
  json subscribed = json::array();
  json applied = json::array();
  json failed = json::array();
  json pending = json::array();
  for (const auto& [agent, st] : u->agents) {
    subscribed.push_back(agent);
    switch (st.state) {
      case agent_state::kind::applied: applied.push_back(agent); break;
      case agent_state::kind::failed:
        failed.push_back({{"agent", agent}, {"errors", st.errors}});
        break;
      case agent_state::kind::pending: pending.push_back(agent); break;
    }
  }
  json doc = {{"id", u->id},
              {"seq", u->seq},
              {"topics", u->topics},
              {"accepted_at", iso_utc(u->accepted_at)},
              {"complete", pending.empty()},
              {"agents",
               {{"subscribed", subscribed},
                {"applied", applied},
                {"failed", failed},
                {"pending", pending}}}};
  // replace: a last guard, should any peer text have reached the tracker unrepaired.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::size_t delivery_tracker::tracked() const {
  std::lock_guard lock(mu_);
  return updates_.size();
}

}  // namespace pdl::server
