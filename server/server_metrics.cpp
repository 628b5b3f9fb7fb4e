#include "server/server_metrics.hpp"

#include <algorithm>
#include <map>

#include "server/server_context.hpp"

namespace pdl::server {
namespace {

void collect(const server_context& ctx, metrics::writer& w) {
  const auto& st = ctx.stats;
  auto num = [](const auto& atomic) { return static_cast<double>(atomic.load()); };
  w.counter("pdl_server_updates_accepted_total", "Updates accepted (stored and fanned out).",
            num(st.updates_accepted));
  for (std::size_t i = 0; i < refusal_kinds; ++i) {
    w.counter("pdl_server_updates_refused_total", "Updates refused, by reason.",
              num(st.refused_by[i]), {{"reason", std::string(refusal_names[i])}});
  }
  const char* notifies_help = "Notifies queued to WebSocket sessions, live or by replay.";
  w.counter("pdl_server_notifies_total", notifies_help, num(st.notifies_live),
            {{"kind", "live"}});
  w.counter("pdl_server_notifies_total", notifies_help, num(st.notifies_replayed),
            {{"kind", "replay"}});
  w.counter("pdl_server_slow_sessions_closed_total",
            "WebSocket sessions closed (1013) because their send queue was full.",
            num(st.slow_sessions_closed));
  const char* reported_help = "Agents' reports on updates (pdl_applied, callback_report).";
  w.counter("pdl_server_updates_reported_total", reported_help, num(st.reports_applied),
            {{"result", "applied"}});
  w.counter("pdl_server_updates_reported_total", reported_help, num(st.reports_failed),
            {{"result", "failed"}});
  w.histogram("pdl_server_publish_seconds",
              "Time from receiving an update to having stored and fanned it out.",
              st.publish_seconds.read());
  w.gauge("pdl_server_connected_agents", "Open WebSocket sessions.", num(st.open_sessions));
  w.gauge("pdl_server_open_connections", "Open connections, HTTP and WebSocket.",
          num(st.open_connections));
  w.gauge("pdl_server_pending_publishes",
          "Publishes waiting for the update log (at most limits.max_pending_publishes).",
          num(st.pending_publishes));
  w.counter("pdl_server_connections_refused_total",
            "Connections refused over limits.max_connections.", num(st.connections_refused));
  if (ctx.blob_files) {
    w.gauge("pdl_server_blob_bytes",
            "Bytes of the documents the server fetched for agents (blob store, blobs.max_bytes).",
            static_cast<double>(ctx.blob_files->used_bytes()));
    w.gauge("pdl_server_blob_max_bytes", "The blob store's limit (blobs.max_bytes).",
            static_cast<double>(ctx.blob_files->max_bytes()));
    w.gauge("pdl_server_blobs", "Blobs in the store.",
            static_cast<double>(ctx.blob_files->count()));
  }
  if (ctx.blob_retention) {
    w.counter("pdl_server_blob_freed_bytes_total",
              "Bytes of blobs removed because no update in the log refers to them any more.",
              static_cast<double>(ctx.blob_retention->freed_bytes()));
  }
  if (ctx.policies && ctx.policies->enabled()) {
    const auto p = ctx.policies->status();
    w.gauge("pdl_server_policy_dir_ok",
            "1 when the last read of policy.dir succeeded; 0: the last good bundle is served.",
            p.ok ? 1.0 : 0.0);
    w.gauge("pdl_server_policy_files", "Policy and data modules in the served bundle.",
            static_cast<double>(p.files));
    w.counter("pdl_server_policy_changes_total", "New policy bundles announced since start.",
              static_cast<double>(p.changes));
  }

  const auto sessions = ctx.sessions.list();
  const std::uint64_t published = ctx.intake ? ctx.intake->published_seq() : 0;
  std::size_t queued = 0;
  std::size_t largest = 0;
  struct agent_row {
    std::optional<std::uint64_t> applied;
    std::optional<std::uint64_t> lag;
  };
  std::map<std::string, agent_row> agents;  // sorted: stable output, one series per agent
  for (const auto& s : sessions) {
    const std::size_t q = s->queued_frames.load(std::memory_order_relaxed);
    queued += q;
    largest = std::max(largest, q);
    if (!s->protocol1) {
      continue;
    }
    agent_row& row = agents[s->agent_id];
    if (auto a = s->applied_seq()) {
      row.applied = std::max(row.applied.value_or(0), *a);
    }
    if (auto l = s->lag(published)) {
      row.lag = row.lag ? std::min(*row.lag, *l) : *l;
    }
  }
  w.gauge("pdl_server_send_queue_frames", "Frames waiting in WebSocket send queues (all).",
          static_cast<double>(queued));
  w.gauge("pdl_server_send_queue_max_frames", "Frames waiting in the fullest send queue.",
          static_cast<double>(largest));
  w.gauge("pdl_server_published_seq", "The last update seq fanned out.",
          static_cast<double>(published));
  w.gauge("pdl_server_log_healthy", "1 when the update log takes appends, else 0.",
          ctx.updates && ctx.updates->healthy() ? 1 : 0);
  for (const auto& [agent, row] : agents) {
    if (row.applied) {
      w.gauge("pdl_server_agent_applied_seq", "The highest seq a connected agent acknowledged.",
              static_cast<double>(*row.applied), {{"agent", agent}});
    }
  }
  for (const auto& [agent, row] : agents) {
    if (row.lag) {
      w.gauge("pdl_server_agent_lag",
              "Published seq minus the last seq a connected agent is known to hold.",
              static_cast<double>(*row.lag), {{"agent", agent}});
    }
  }
}

}  // namespace

void register_server_metrics(server_context& ctx) {
  ctx.metrics.add([&ctx](metrics::writer& w) { collect(ctx, w); });
}

}  // namespace pdl::server
