#include "server/delivery_status.hpp"

#include <algorithm>
#include <ctime>

#include <nlohmann/json.hpp>

namespace pdl::server {
namespace {

std::string iso_utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

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
              {"accepted_at", iso_utc(u.accepted_at)},
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
