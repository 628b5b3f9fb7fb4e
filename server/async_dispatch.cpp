#include "server/async_dispatch.hpp"

#include <atomic>
#include <chrono>

#include <fmt/format.h>

#include "server/handlers.hpp"
#include "server/routes.hpp"
#include "server/server_context.hpp"
#include "shared/log/log.hpp"
#include "shared/net/offload.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.http");
  return l;
}

}  // namespace

publish_slot& publish_slot::operator=(publish_slot&& o) noexcept {
  if (this != &o) {
    release();
    ctx_ = std::exchange(o.ctx_, nullptr);
  }
  return *this;
}

void publish_slot::release() noexcept {
  if (ctx_ != nullptr) {
    --ctx_->stats.pending_publishes;
    ctx_ = nullptr;
  }
}

std::optional<publish_slot> try_reserve_publish(server_context& ctx) {
  const auto limit = static_cast<std::int64_t>(ctx.cfg.max_pending_publishes);
  if (++ctx.stats.pending_publishes > limit) {
    --ctx.stats.pending_publishes;
    return std::nullopt;
  }
  return publish_slot(ctx);
}

http_reply overloaded_reply(server_context& ctx, std::string_view via) {
  ctx.stats.refused(refusal::overloaded);
  const std::uint64_t n = ctx.stats.refused_by[static_cast<std::size_t>(refusal::overloaded)];
  if (n % 100 == 1) {
    logger()->warn("publish via {} refused: {} publishes are already waiting for the update log "
                   "(limits.max_pending_publishes; {} refused so far)",
                   via, ctx.cfg.max_pending_publishes, n);
  }
  http_reply r = http_reply::json(
      503, error_detail(fmt::format("too many publishes are waiting for the update log (at most "
                                    "{}), try again later",
                                    ctx.cfg.max_pending_publishes)));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

net::awaitable<http_reply> publish_async(server_context& ctx, publish_slot slot, std::string body,
                                         caller who, std::string via) {
  // The lambda references this frame, which lives until offload() has resumed it.
  http_reply reply = co_await offload(*ctx.publish_pool, [&ctx, &body, &who, &via] {
    return ctx.intake->submit(body, who, via);
  });
  (void)slot;  // released when this frame ends, with the answer
  co_return reply;
}

net::awaitable<http_reply> dispatch_async(server_context& ctx, const http_request& req) {
  const route* r = find_route(ctx, req);
  if (r == nullptr || !r->publishes) {
    co_return dispatch(ctx, req);
  }
  // The same exception boundary as dispatch(): whatever the publish throws (on the pool or
  // here) becomes a 500 with one log line, never the end of the connection.
  std::exception_ptr failure;
  try {
    auto who = authenticate_publisher(ctx, req);
    if (auto* refused = std::get_if<http_reply>(&who)) {
      co_return std::move(*refused);
    }
    auto slot = try_reserve_publish(ctx);
    if (!slot) {
      co_return overloaded_reply(ctx, "http");
    }
    co_return co_await publish_async(ctx, std::move(*slot), req.body,
                                     std::get<caller>(std::move(who)), "http");
  } catch (...) {
    failure = std::current_exception();  // no co_return inside a handler
  }
  co_return internal_error_reply(failure);
}

}  // namespace pdl::server
