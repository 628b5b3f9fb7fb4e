#include "server/delivery_status.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "server/statistics.hpp"

namespace pdl::server {

bool none_pending(const update_delivery& u) {
  return std::none_of(u.agents.begin(), u.agents.end(), [](const agent_delivery& a) {
    return a.state == delivery_state::pending;
  });
}

std::string status_document(const update_delivery& u, bool complete,
                            const replica_coverage* coverage) {
  using nlohmann::json;
  json subscribed = json::array();
  json applied = json::array();
  json failed = json::array();
  json pending = json::array();
  for (const auto& a : u.agents) {
    subscribed.push_back(a.agent);
    switch (a.state) {
      case delivery_state::applied: applied.push_back(a.agent); break;
      case delivery_state::failed:
        failed.push_back({{"agent", a.agent}, {"errors", a.errors}});
        break;
      case delivery_state::pending: pending.push_back(a.agent); break;
    }
  }
  json doc = {{"id", u.id},
              {"seq", u.seq},
              {"topics", u.topics},
              {"accepted_at", iso8601_utc(u.accepted_at)},
              {"complete", complete},
              {"agents",
               {{"subscribed", subscribed},
                {"applied", applied},
                {"failed", failed},
                {"pending", pending}}}};
  if (coverage != nullptr) {
    doc["replicas"] = {{"reported", coverage->reported}, {"waiting", coverage->waiting}};
  }
  // replace: a last guard, should any peer text have reached here unrepaired.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace pdl::server
