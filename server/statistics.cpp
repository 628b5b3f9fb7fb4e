#include "server/statistics.hpp"

#include <ctime>
#include <set>

#include <nlohmann/json.hpp>

#include "server/server_context.hpp"
#include "server/version.hpp"

namespace pdl::server {
namespace {

using nlohmann::json;

json optional_number(std::optional<std::uint64_t> v) { return v ? json(*v) : json(nullptr); }

// Topics and agent ids come from peers (parsed, so valid UTF-8): replace is a last guard that
// keeps the scrape answering should one ever not be.
std::string render(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string statistics_json(const server_context& ctx) {
  const std::uint64_t published = ctx.intake ? ctx.intake->published_seq() : 0;
  json clients = json::object();
  for (const auto& s : ctx.sessions.list()) {
    std::set<std::string> topics = ctx.subscriptions.topics_of(s->session_id);
    json row = {{"rpc_id", s->session_id},
                {"client_id", s->agent_id},
                {"topics", topics},
                {"address", s->address},
                {"connected_since", iso8601_utc(s->connected_since)},
                {"protocol", s->protocol1 ? 1 : 0},
                {"applied_seq", optional_number(s->applied_seq())},
                {"lag", optional_number(s->lag(published))}};
    clients[s->agent_id].push_back(std::move(row));
  }
  json by_topic = json::object();
  for (const auto& [topic, n] : ctx.stats.publishes_by_topic.snapshot()) {
    by_topic[topic] = n;
  }
  json doc = {{"uptime", iso8601_utc(ctx.started_at)},
              {"version", std::string(version)},
              {"clients", std::move(clients)},
              {"servers", json::array({ctx.server_id})},
              {"published_seq", published},
              {"log_id", ctx.updates ? ctx.updates->log_id() : std::string()},
              {"publishes_by_topic", std::move(by_topic)},
              {"updates",
               {{"accepted", ctx.stats.updates_accepted.load()},
                {"refused", ctx.stats.refused_total()}}}};
  return render(doc);
}

std::string stats_brief_json(const server_context& ctx) {
  std::set<std::string> clients;
  for (const auto& s : ctx.sessions.list()) {
    clients.insert(s->agent_id);
  }
  json doc = {{"uptime", iso8601_utc(ctx.started_at)},
              {"version", std::string(version)},
              {"client_count", clients.size()},
              {"server_count", 1}};
  return render(doc);
}

}  // namespace pdl::server
