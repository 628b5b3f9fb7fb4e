#pragma once
// GET /statistics and GET /stats bodies: OPAL's ServerStats / ServerStatsBrief keys, plus ours.
// Only ids, addresses, topics and numbers: never a token, a header value or source config.
//
// /statistics:
//   {"uptime": "<server start, ISO 8601 UTC>", "version": "0.1.0",
//    "clients": {"<client_id>": [{"rpc_id": "<session id>", "client_id": "<client_id>",
//                                 "topics": ["..."], "address": "ip:port",
//                                 "connected_since": "<ISO 8601 UTC>", "protocol": 0|1,
//                                 "applied_seq": N|null, "lag": N|null}]},
//    "servers": ["<server id>"], "published_seq": N, "log_id": "...",
//    "publishes_by_topic": {"<topic>": N, "__other__": N},
//    "updates": {"accepted": N, "refused": N}}
//   client_id = the agent id (X-PDL-Agent-Id, else the session id). applied_seq and lag as in
//   session_registry.hpp (null: never acknowledged / not known, e.g. OPAL clients).
// /stats: {"uptime": ..., "version": ..., "client_count": N, "server_count": 1}
#include <chrono>
#include <string>

namespace pdl::server {

struct server_context;

std::string statistics_json(const server_context& ctx);
std::string stats_brief_json(const server_context& ctx);

/** "YYYY-MM-DDTHH:MM:SSZ" */
std::string iso8601_utc(std::chrono::system_clock::time_point t);

}  // namespace pdl::server
