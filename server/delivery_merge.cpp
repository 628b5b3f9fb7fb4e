#include "server/delivery_merge.hpp"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "shared/model/utf8.hpp"

namespace pdl::server {
namespace {

constexpr std::size_t max_agents = 100000;  // as delivery_tracker::max_agents_per_update

char state_char(delivery_state s) {
  switch (s) {
    case delivery_state::applied: return 'a';
    case delivery_state::failed: return 'f';
    case delivery_state::pending: break;
  }
  return 'p';
}

/** b is a later report than a (a tie goes to failed: never hide a failure). */
bool later(const agent_delivery& b, const agent_delivery& a) {
  if (b.at_ms != a.at_ms) {
    return b.at_ms > a.at_ms;
  }
  return b.state == delivery_state::failed && a.state != delivery_state::failed;
}

}  // namespace

bool valid_replica_id(std::string_view id) {
  if (id.empty() || id.size() > delivery_limits::max_replica_id_bytes) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
  });
}

std::string encode_delivery_field(std::string_view replica, std::string_view agent) {
  std::string f;
  f.reserve(replica.size() + 1 + agent.size());
  f.append(replica).push_back(':');
  f.append(agent);
  return f;
}

std::optional<std::pair<std::string, std::string>> decode_delivery_field(std::string_view field) {
  if (field.size() > delivery_limits::max_field_bytes) {
    return std::nullopt;
  }
  const auto colon = field.find(':');
  if (colon == std::string_view::npos || colon + 1 == field.size()) {
    return std::nullopt;
  }
  std::string_view replica = field.substr(0, colon);
  if (!valid_replica_id(replica)) {
    return std::nullopt;
  }
  return std::make_pair(std::string(replica),
                        model::truncate_utf8(field.substr(colon + 1), 256));
}

std::string encode_delivery_value(const agent_delivery& a) {
  std::string v(1, state_char(a.state));
  v += std::to_string(std::max<std::int64_t>(a.at_ms, 0));
  if (a.state == delivery_state::failed && !a.errors.empty()) {
    v.push_back('\n');
    v += nlohmann::json(a.errors).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return v;
}

std::optional<agent_delivery> decode_delivery_value(std::string_view value) {
  if (value.empty() || value.size() > delivery_limits::max_value_bytes) {
    return std::nullopt;
  }
  agent_delivery a;
  switch (value.front()) {
    case 'p': a.state = delivery_state::pending; break;
    case 'a': a.state = delivery_state::applied; break;
    case 'f': a.state = delivery_state::failed; break;
    default: return std::nullopt;
  }
  const auto nl = value.find('\n');
  std::string_view ms = value.substr(1, nl == std::string_view::npos ? value.npos : nl - 1);
  if (ms.empty() || ms.size() > 19) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), a.at_ms);
  if (ec != std::errc{} || end != ms.data() + ms.size() || a.at_ms < 0) {
    return std::nullopt;
  }
  if (nl == std::string_view::npos) {
    return a;
  }
  if (a.state != delivery_state::failed) {
    return std::nullopt;
  }
  auto errors = nlohmann::json::parse(value.substr(nl + 1), nullptr, false);
  if (errors.is_discarded() || !errors.is_array() ||
      errors.size() > delivery_limits::max_errors) {
    return std::nullopt;
  }
  for (const auto& e : errors) {
    if (!e.is_string()) {
      return std::nullopt;
    }
    a.errors.push_back(
        model::truncate_utf8(e.get_ref<const std::string&>(), delivery_limits::max_error_bytes));
  }
  return a;
}

merged_delivery merge_deliveries(const update_delivery& local, std::string_view self,
                                 const std::vector<std::pair<std::string, std::string>>& fields,
                                 const live_replicas& others) {
  struct seen {
    std::optional<agent_delivery> outcome;
    bool pending_live = false;
  };
  std::map<std::string, seen, std::less<>> agents;
  auto note = [&](const std::string& agent, agent_delivery d, bool live) {
    auto it = agents.find(agent);
    if (it == agents.end()) {
      if (agents.size() >= max_agents) {
        return;
      }
      it = agents.emplace(agent, seen{}).first;
    }
    seen& s = it->second;
    if (d.state == delivery_state::pending) {
      s.pending_live = s.pending_live || live;
    } else if (!s.outcome || later(d, *s.outcome)) {
      d.agent = agent;
      s.outcome = std::move(d);
    }
  };
  for (const auto& a : local.agents) {
    note(a.agent, a, true);
  }
  merged_delivery out;
  for (const auto& [field, value] : fields) {
    auto who = decode_delivery_field(field);
    auto state = who ? decode_delivery_value(value) : std::nullopt;
    if (!state) {
      ++out.ignored_fields;
      continue;
    }
    if (who->first == self) {
      continue;  // this replica's own, older than `local`
    }
    note(who->second, std::move(*state), others.count(who->first) != 0);
  }

  out.update.id = local.id;
  out.update.seq = local.seq;
  out.update.topics = local.topics;
  out.update.accepted_at = local.accepted_at;
  for (auto& [agent, s] : agents) {
    if (s.outcome) {
      out.update.agents.push_back(std::move(*s.outcome));
    } else if (s.pending_live) {
      out.update.agents.push_back(agent_delivery{agent, delivery_state::pending, {}, 0});
    }
  }
  for (const auto& [replica, through] : others) {
    if (replica == self) {
      continue;
    }
    if (through < local.seq) {
      out.coverage.waiting.push_back(replica);
    } else {
      ++out.coverage.reported;
    }
  }
  ++out.coverage.reported;  // this replica: its view is live
  out.complete = out.coverage.waiting.empty() && none_pending(out.update);
  return out;
}

}  // namespace pdl::server
