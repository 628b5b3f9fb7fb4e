#pragma once
// opal-server's Prometheus metrics (GET /metrics, no auth: nothing here is secret; the only
// client-chosen label is the agent id, already validated to [A-Za-z0-9._:@-]{1,128}).
//
// After the process_* metrics (shared/metrics):
//   pdl_server_updates_accepted_total                      counter
//   pdl_server_updates_refused_total{reason}               counter  reason: unauthorized (401),
//       forbidden (403: peer type or permitted_topics), malformed (400: not JSON), invalid
//       (422: schema; a WebSocket publish whose data is not an object), unavailable (503: the
//       update log refused the append), overloaded (503 with Retry-After: over
//       limits.max_pending_publishes publishes were waiting)
//   pdl_server_notifies_total{kind="live"|"replay"}        counter  notifies queued to sessions
//   pdl_server_slow_sessions_closed_total                  counter  closed 1013, queue full
//   pdl_server_updates_reported_total{result="applied"|"failed"}  counter  agents' reports:
//       pdl_applied (protocol 1) and POST /data/callback_report (OPAL clients)
//   pdl_server_publish_seconds                             histogram  accepted update: from
//       receipt to stored and fanned out (POST /data/config and WebSocket publish)
//   pdl_server_connected_agents                            gauge  WebSocket sessions
//   pdl_server_open_connections                            gauge  HTTP + WebSocket
//   pdl_server_pending_publishes                           gauge  publishes waiting for the
//       update log (admitted, not answered yet)
//   pdl_server_connections_refused_total                  counter  over limits.max_connections
//   pdl_server_send_queue_frames                           gauge  frames queued, all sessions
//   pdl_server_send_queue_max_frames                       gauge  the largest session queue
//   pdl_server_published_seq                               gauge  last seq fanned out
//   pdl_server_log_healthy                                 gauge  1 when the update log takes
//       appends, else 0
//   pdl_server_agent_applied_seq{agent}                    gauge  highest seq the agent
//       acknowledged (agents that never acknowledged are left out)
//   pdl_server_agent_lag{agent}                            gauge  published seq minus the last
//       seq the agent is known to hold: its highest acknowledgement, or the seq it subscribed
//       after (after_seq; without it, the published seq when it subscribed), whichever is
//       higher; 0 when it is not behind
// Per-agent series cover connected protocol-1 agents only (OPAL clients never acknowledge); an
// agent with several sessions is one series (its highest applied seq, its smallest lag).

namespace pdl::server {

struct server_context;

/** Registers the collector of the metrics above in ctx.metrics (make_server_context). */
void register_server_metrics(server_context& ctx);

}  // namespace pdl::server
