#include "server/routes.hpp"

#include <fmt/format.h>

#include "server/handlers.hpp"
#include "server/server_context.hpp"
#include "shared/model/json_text.hpp"

namespace pdl::server {

http_reply internal_error_reply(std::string why) {
  http_reply r = http_reply::json(500, error_detail("internal server error"));
  r.log_detail = std::move(why);
  return r;
}

http_reply internal_error_reply(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return internal_error_reply(fmt::format("handler failed: {}", model::exception_text(ex)));
  } catch (...) {
    return internal_error_reply("handler failed: an exception of unknown type");
  }
}

namespace {

/** @p call() with every exception turned into a 500. */
template <class Call>
auto guarded(Call call) -> decltype(call()) {
  try {
    return call();
  } catch (...) {
    return internal_error_reply(std::current_exception());
  }
}

const route* find_route(const server_context& ctx, const http_request& req, std::string* allow) {
  for (const auto& r : ctx.routes) {
    if (r.path != req.path && !path_matches(r.path, req.path)) {
      continue;
    }
    if (r.method == req.method) {
      return &r;
    }
    if (allow != nullptr) {
      *allow += allow->empty() ? r.method : ", " + r.method;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<route> route_table(const std::string& data_config_route) {
  const route_doc health{"Liveness", false, "", {{200, "Status"}}};
  return {
      {"GET", "/", handle_health, health},
      {"GET", "/healthcheck", handle_health, health},
      {"GET", "/healthy", handle_health, health},
      {"GET", "/ready", handle_ready, {"Readiness: ok once listening", false, "", {{200, "Status"}}}},
      {"POST", "/token", handle_token,
       {"Mint a JWT (master token as bearer)", true, "AccessTokenRequest",
        {{200, "AccessToken"}, {401, "ErrorDetail"}, {422, "ValidationError"},
         {503, "ErrorDetail"}}},
       refuse_without_master_token},
      {"GET", "/.well-known/jwks.json", handle_jwks,
       {"The public key that verifies our tokens", false, "", {{200, "JWKS"}}}},
      {"GET", data_config_route, handle_get_data_config,
       {"Base data-source configuration", true, "",
        {{200, "DataSourceConfig"}, {307, ""}, {401, "ErrorDetail"}}}},
      {"POST", data_config_route, handle_post_data_config,
       {"Publish a data update (datasource token)", true, "DataUpdate",
        {{200, "PublishResult"}, {400, "ValidationError"}, {401, "ErrorDetail"},
         {403, "ErrorDetail"}, {413, "ErrorDetail"}, {422, "ValidationError"},
         {503, "ErrorDetail"}}},
       refuse_unauthenticated_publisher, true},
      {"GET", "/policy", handle_policy,
       {"Policy bundle of policy.dir (OPAL's bundle API): full, or a delta from base_hash; an "
        "empty delta when no directory is configured",
        true, "",
        {{200, "PolicyBundle"}, {401, "ErrorDetail"}, {404, ""}, {422, "ValidationError"},
         {503, ""}}}},
      {"GET", "/data/blobs/{sha256}", handle_get_blob,
       {"A document the server fetched once for every agent (fetched_by: server), by its "
        "SHA-256: a client token, or the signature of the entry's url",
        true, "",
        {{200, ""}, {401, "ErrorDetail"}, {403, "ErrorDetail"}, {404, "ErrorDetail"}}},
       nullptr, false, true},
      {"GET", "/policy-data", handle_policy_data,
       {"OPAL's placeholder data source: {}", false, "", {{200, ""}}}},
      {"POST", "/data/callback_report", handle_callback_report,
       {"An agent's report on an applied update (logged; with update_id, an acknowledgement)",
        true, "DataUpdateReport", {{200, ""}, {401, "ErrorDetail"}, {422, "ValidationError"}}},
       refuse_unauthenticated},
      {"GET", "/data/updates/{id}", handle_update_status,
       {"Delivery status of an update: agents subscribed, applied, failed, pending "
        "(datasource or listener token)",
        true, "",
        {{200, "UpdateStatus"}, {401, "ErrorDetail"}, {403, "ErrorDetail"}, {404, ""},
         {503, "ErrorDetail"}}},
       nullptr, false, false, true},
      {"GET", "/openapi.json", handle_openapi, {"This document", false, "", {{200, ""}}}},
      {"GET", "/metrics", handle_metrics,
       {"Prometheus metrics (text format 0.0.4): process, updates, sessions, per-agent lag",
        false, "", {{200, ""}}}},
      {"GET", "/statistics", handle_statistics,
       {"Connected clients with topics, address, protocol, applied seq and lag; publishes by "
        "topic (master token or listener token)",
        true, "",
        {{200, "ServerStats"}, {401, "ErrorDetail"}, {403, "ErrorDetail"}}}},
      {"GET", "/stats", handle_stats,
       {"Brief statistics: uptime, version, client and server counts (master token or "
        "listener token)",
        true, "",
        {{200, "ServerStatsBrief"}, {401, "ErrorDetail"}, {403, "ErrorDetail"}}}},
      {"GET", "/ws", handle_ws_without_upgrade,
       {"WebSocket upgrade: OPAL's pub/sub RPC (subscribe, publish, notify)", true, "",
        {{101, ""}, {403, "ErrorDetail"}, {426, "ErrorDetail"}}}},
  };
}

bool path_matches(std::string_view pattern, std::string_view path) {
  while (!pattern.empty() && !path.empty()) {
    auto ps = pattern.find('/', 1);
    auto qs = path.find('/', 1);
    std::string_view p = pattern.substr(0, ps);
    std::string_view q = path.substr(0, qs);
    bool param = p.size() > 3 && p[1] == '{' && p.back() == '}';
    if (param ? q.size() < 2 : p != q) {
      return false;
    }
    pattern.remove_prefix(p.size());
    path.remove_prefix(q.size());
  }
  return pattern.empty() && path.empty();
}

const route* find_route(const server_context& ctx, const http_request& req) {
  for (const auto& r : ctx.routes) {
    if (r.method == req.method && (r.path == req.path || path_matches(r.path, req.path))) {
      return &r;
    }
  }
  return nullptr;
}

http_reply dispatch(server_context& ctx, const http_request& req) {
  std::string allow;
  if (const route* r = find_route(ctx, req, &allow); r != nullptr && r->handler != nullptr) {
    return guarded([&] { return r->handler(ctx, req); });
  }
  if (!allow.empty()) {
    http_reply reply = http_reply::json(405, R"({"detail":"Method Not Allowed"})");
    reply.headers.emplace_back("Allow", allow);
    return reply;
  }
  return http_reply::json(404, R"({"detail":"Not Found"})");
}

std::optional<http_reply> check_before_body(server_context& ctx, const http_request& head) {
  const route* r = find_route(ctx, head, nullptr);
  if (r == nullptr || r->before_body == nullptr) {
    return std::nullopt;
  }
  return guarded([&] { return r->before_body(ctx, head); });
}

}  // namespace pdl::server
