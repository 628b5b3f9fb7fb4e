#include "server/delivery_tracker.hpp"

#include <algorithm>

#include "shared/model/utf8.hpp"

namespace pdl::server {
namespace {

// Agent ids and error messages come from peers: cut on a character boundary, repaired, so the
// status document always renders.
std::string cut(std::string_view s, std::size_t max) { return model::truncate_utf8(s, max); }

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

delivery_tracker::delivery_tracker(std::size_t max_tracked)
    : max_tracked_(std::max<std::size_t>(max_tracked, 1)) {}

void delivery_tracker::record_changes() {
  std::lock_guard lock(mu_);
  record_changes_ = true;
}

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

const delivery_tracker::update_state* delivery_tracker::find_by_id(const std::string& id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    return nullptr;
  }
  auto u = std::lower_bound(updates_.begin(), updates_.end(), it->second,
                            [](const update_state& x, std::uint64_t s) { return x.seq < s; });
  if (u == updates_.end() || u->seq != it->second) {
    return nullptr;
  }
  return &*u;
}

void delivery_tracker::note_change(update_state& u, const std::string& agent_key,
                                   agent_state& a) {
  if (!record_changes_ || a.changed) {
    return;
  }
  a.changed = true;
  if (u.changed.empty()) {
    changed_seqs_.push_back(u.seq);
  }
  u.changed.push_back(&agent_key);
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
  auto [it, inserted] = u->agents.try_emplace(cut(agent, max_agent_id_bytes));
  if (inserted) {
    note_change(*u, it->first, it->second);
  }
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
    auto [it, inserted] = u->agents.try_emplace(cut(*agent, max_agent_id_bytes));
    if (inserted) {
      note_change(*u, it->first, it->second);
    }
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
  auto it = u->agents.try_emplace(std::move(who)).first;
  agent_state& a = it->second;
  a.state = ok ? delivery_state::applied : delivery_state::failed;
  a.at_ms = now_ms();
  a.errors.clear();
  if (!ok) {
    if (errors.size() > max_errors) {
      errors.resize(max_errors);
    }
    for (auto& e : errors) {
      a.errors.push_back(cut(e, max_error_bytes));
    }
  }
  note_change(*u, it->first, a);
  return true;
}

std::optional<update_delivery> delivery_tracker::snapshot(const std::string& id) const {
  std::lock_guard lock(mu_);
  const update_state* u = find_by_id(id);
  if (u == nullptr) {
    return std::nullopt;
  }
  update_delivery d;
  d.id = u->id;
  d.seq = u->seq;
  d.topics = u->topics;
  d.accepted_at = u->accepted_at;
  d.agents.reserve(u->agents.size());
  for (const auto& [agent, st] : u->agents) {
    d.agents.push_back(agent_delivery{agent, st.state, st.errors, st.at_ms});
  }
  return d;
}

std::optional<std::string> delivery_tracker::status_json(const std::string& id) const {
  auto d = snapshot(id);
  if (!d) {
    return std::nullopt;
  }
  return status_document(*d, none_pending(*d));
}

std::uint64_t delivery_tracker::oldest_seq() const {
  std::lock_guard lock(mu_);
  return updates_.empty() ? 0 : updates_.front().seq;
}

std::vector<delivery_tracker::change> delivery_tracker::take_changes(std::size_t max) {
  std::vector<change> out;
  std::lock_guard lock(mu_);
  std::sort(changed_seqs_.begin(), changed_seqs_.end());
  std::size_t done = 0;  // changed_seqs_[0, done) are fully taken
  for (; done < changed_seqs_.size() && out.size() < max; ++done) {
    update_state* u = find("", changed_seqs_[done]);
    if (u == nullptr) {
      continue;  // no longer tracked: its changes went with it
    }
    while (!u->changed.empty() && out.size() < max) {
      const std::string* key = u->changed.back();
      u->changed.pop_back();
      agent_state& a = u->agents.find(*key)->second;
      a.changed = false;
      out.push_back(change{u->seq, agent_delivery{*key, a.state, a.errors, a.at_ms}});
    }
    if (!u->changed.empty()) {
      break;  // max reached within this update: it stays listed
    }
  }
  changed_seqs_.erase(changed_seqs_.begin(),
                      changed_seqs_.begin() + static_cast<std::ptrdiff_t>(done));
  return out;
}

void delivery_tracker::give_back(const std::vector<change>& changes) {
  std::lock_guard lock(mu_);
  for (const auto& c : changes) {
    update_state* u = find("", c.seq);
    if (u == nullptr) {
      continue;
    }
    if (auto it = u->agents.find(c.agent.agent); it != u->agents.end()) {
      note_change(*u, it->first, it->second);
    }
  }
}

std::size_t delivery_tracker::tracked() const {
  std::lock_guard lock(mu_);
  return updates_.size();
}

}  // namespace pdl::server
