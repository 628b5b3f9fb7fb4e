#include "server/server_context.hpp"

#include "server/memory_update_log.hpp"
#include "server/openapi.hpp"

namespace pdl::server {

std::unique_ptr<server_context> make_server_context(config::server_config cfg) {
  auto ctx = std::make_unique<server_context>(std::move(cfg));
  ctx->auth = server_auth::create(ctx->cfg);
  ctx->updates = std::make_unique<memory_update_log>(ctx->cfg.log_retained_updates);
  ctx->intake = std::make_unique<update_intake>(*ctx->updates, ctx->subscriptions, ctx->stats);
  ctx->base_config_json = model::data_source_config_to_json(ctx->cfg.data_config_entries);
  ctx->routes = route_table(ctx->cfg.data_config_route);
  ctx->openapi_json = build_openapi(ctx->routes);
  return ctx;
}

}  // namespace pdl::server
