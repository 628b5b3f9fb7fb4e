#pragma once
// The HTTP route handlers. Each takes the shared context and the parsed request and returns the
// answer. None blocks on I/O except handle_post_data_config, which stores the update (the
// connections run it on the publish pool: async_dispatch.hpp).
#include <optional>
#include <variant>

#include "server/http_types.hpp"
#include "server/server_auth.hpp"

namespace pdl::server {

struct server_context;

http_reply handle_health(server_context& ctx, const http_request& req);
http_reply handle_ready(server_context& ctx, const http_request& req);
http_reply handle_token(server_context& ctx, const http_request& req);
http_reply handle_jwks(server_context& ctx, const http_request& req);
http_reply handle_get_data_config(server_context& ctx, const http_request& req);
/** Authenticates, then update_intake::submit: waits for the update log. */
http_reply handle_post_data_config(server_context& ctx, const http_request& req);
/** The first, cheap half of handle_post_data_config: the caller, or the 401/503 refusing them
 *  (counted as a refused update). */
std::variant<caller, http_reply> authenticate_publisher(server_context& ctx,
                                                        const http_request& req);
/** GET /data/blobs/{sha256} (docs/fetch-once.md): a client token or a valid signature (the
 *  query of the entry's url); the file is opened here, so run it off the I/O threads (the
 *  route is `blocking`). 404 when the store does not have it. */
http_reply handle_get_blob(server_context& ctx, const http_request& req);
http_reply handle_policy_data(server_context& ctx, const http_request& req);
/** GET /policy: OPAL's policy bundle API (policy.dir; server/policy/policy_source.hpp). Any
 *  valid JWT; `path` (repeatable) and `base_hash` in the query. */
http_reply handle_policy(server_context& ctx, const http_request& req);
/** Logged; with an update_id it also counts as the caller's (token sub) acknowledgement. */
http_reply handle_callback_report(server_context& ctx, const http_request& req);
/** GET /data/updates/{id}: delivery status (docs/protocol.md), datasource or listener token. */
http_reply handle_update_status(server_context& ctx, const http_request& req);
http_reply handle_openapi(server_context& ctx, const http_request& req);
/** GET /metrics: Prometheus text format (server_metrics.hpp), no auth. */
http_reply handle_metrics(server_context& ctx, const http_request& req);
/** GET /statistics (statistics.hpp): master token or listener token; others 401/403. */
http_reply handle_statistics(server_context& ctx, const http_request& req);
/** GET /stats: OPAL's brief {uptime, version, client_count, server_count}; auth as /statistics. */
http_reply handle_stats(server_context& ctx, const http_request& req);
/** GET /ws without an Upgrade header. */
http_reply handle_ws_without_upgrade(server_context& ctx, const http_request& req);

// Checks on the request head alone (route::before_body): each gives the refusal its route's
// handler would give, so a large body from a caller refused anyway is never read.
/** POST /token: the master token. */
std::optional<http_reply> refuse_without_master_token(server_context& ctx,
                                                      const http_request& head);
/** A valid JWT (or auth disabled). */
std::optional<http_reply> refuse_unauthenticated(server_context& ctx, const http_request& head);
/** POST /data/config: as refuse_unauthenticated, counted as a refused update. */
std::optional<http_reply> refuse_unauthenticated_publisher(server_context& ctx,
                                                           const http_request& head);

/** 401/403/503 from an auth_failure, with WWW-Authenticate: Bearer on 401. */
http_reply auth_failure_reply(int status, std::string_view message);

}  // namespace pdl::server
