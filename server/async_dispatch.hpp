#pragma once
// Requests as the connections run them (STYLE H6: nothing that can wait runs on an I/O thread or
// a strand). Cheap handlers (probes, /metrics, /token, /statistics, ...) answer inline on the
// connection's strand. A publish (POST /data/config, a datasource's WebSocket `publish`) waits
// for the update log (fsync, Redis, the sequencer): it takes a slot among
// limits.max_pending_publishes and runs update_intake::submit on the publish pool; the awaiting
// coroutine resumes on its strand with the answer. Include from .cpp files only (Asio).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "server/http_types.hpp"
#include "server/server_auth.hpp"
#include "shared/net.hpp"

namespace pdl::server {

struct server_context;

/** A place among the publishes allowed to wait at once (server_stats::pending_publishes), held
 *  from admission until the publish has its answer. Move-only; releases on destruction. */
class publish_slot {
 public:
  explicit publish_slot(server_context& ctx) noexcept : ctx_(&ctx) {}
  publish_slot(publish_slot&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}
  publish_slot& operator=(publish_slot&& o) noexcept;
  publish_slot(const publish_slot&) = delete;
  publish_slot& operator=(const publish_slot&) = delete;
  ~publish_slot() { release(); }

 private:
  void release() noexcept;
  server_context* ctx_;
};

/** A slot, or nullopt when limits.max_pending_publishes publishes are already waiting (the
 *  caller refuses: overloaded_reply()). Any thread; never waits. */
std::optional<publish_slot> try_reserve_publish(server_context& ctx);

/** 503, `Retry-After: 1` and {"detail":{"error":...}}; counts the refusal (reason
 *  `overloaded`) and logs it rate-limited. */
http_reply overloaded_reply(server_context& ctx, std::string_view via);

/**
 * update_intake::submit(@p body, @p who, @p via) on ctx.publish_pool.
 * Completes once the intake has answered (stored and queued to every subscribed session, or
 * refused); resumes on the awaiting coroutine's executor (its strand), never inline. Holds
 * @p slot until then. Not cancellable: the submit runs to completion (its log has timeouts).
 * Parameters by value (STYLE H5): the caller may return before the pool runs it.
 */
net::awaitable<http_reply> publish_async(server_context& ctx, publish_slot slot, std::string body,
                                         caller who, std::string via);

/**
 * Routes @p req like dispatch() (routes.hpp), except that a publishing route is authenticated
 * inline and then admitted (503 overloaded_reply() beyond the bound) and run by publish_async().
 * Call from the connection's strand; @p req must outlive the co_await (the caller awaits in the
 * same statement). Completes inline for every route but a publish.
 */
net::awaitable<http_reply> dispatch_async(server_context& ctx, const http_request& req);

}  // namespace pdl::server
