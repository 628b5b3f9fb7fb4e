#include "server/async_dispatch.hpp"

#include <atomic>
#include <chrono>

#include <fmt/format.h>

#include "server/handlers.hpp"
#include "server/routes.hpp"
#include "server/server_context.hpp"
#include "shared/http/url.hpp"
#include "shared/log/log.hpp"
#include "shared/net/offload.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.http");
  return l;
}

std::shared_ptr<spdlog::logger> blob_logger() {
  static auto l = log::get("server.blobs");
  return l;
}

struct fetch_outcome {
  std::unique_ptr<blobs::blob_store::writer> blob;
  std::optional<blobs::source_failure> failure;
};

/** The server's fetch of @p entry, started on the publish pool (the writer's temp file is
 *  created there); resumes on the awaiting coroutine's executor. Holds no thread while the
 *  source answers. */
net::awaitable<fetch_outcome> fetch_entry(server_context& ctx, model::data_source_entry entry) {
  co_return co_await net::async_initiate<decltype(net::use_awaitable), void(fetch_outcome)>(
      [&ctx](auto handler, model::data_source_entry e) {
        using handler_t = decltype(handler);
        struct state {
          explicit state(handler_t h)
              : handler(std::move(h)), work(net::make_work_guard(handler)) {}
          handler_t handler;
          net::executor_work_guard<net::associated_executor_t<handler_t>> work;
        };
        auto st = std::make_shared<state>(std::move(handler));
        net::post(*ctx.publish_pool, [&ctx, e = std::move(e), st]() {
          ctx.blob_fetcher->fetch(
              e, [st](blobs::source_result r) {
                auto ex = st->work.get_executor();
                auto out = std::make_shared<fetch_outcome>(
                    fetch_outcome{std::move(r.blob), std::move(r.failure)});
                if (!out->blob && !out->failure) {  // a 304 to a request that asked nothing
                  out->failure = blobs::source_failure{502, "the source answered 304"};
                }
                net::post(ex, [st, out]() mutable {
                  st->handler(std::move(*out));
                  st->work.reset();
                });
              });
        });
      },
      net::use_awaitable, std::move(entry));
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
  // The lambdas reference this frame, which lives until offload() has resumed it.
  auto checked = co_await offload(*ctx.publish_pool, [&ctx, &body, &who, &via] {
    return ctx.intake->prepare(body, who, via);
  });
  if (auto* refused = std::get_if<http_reply>(&checked)) {
    co_return std::move(*refused);
  }
  auto p = std::get<update_intake::prepared>(std::move(checked));
  // Fetch once (docs/fetch-once.md): the entries the server fetches are in the blob store,
  // synced, before the update is appended; the publish slot is held meanwhile, no thread is.
  for (std::size_t i : fetched_by_server(p.update, ctx.cfg.fetched_by_default)) {
    auto& entry = p.update.entries[i];
    if (!ctx.blob_fetcher) {
      co_return ctx.intake->refuse_fetch(
          i, 503, "this server cannot fetch for agents, it has no blob store: " +
                      ctx.blobs_unavailable, via);
    }
    fetch_outcome got = co_await fetch_entry(ctx, entry);
    if (got.failure) {
      co_return ctx.intake->refuse_fetch(i, got.failure->status, got.failure->message, via);
    }
    std::optional<model::blob_ref> ref;
    std::string why;
    int status = 507;
    co_await offload(*ctx.publish_pool, [&got, &ref, &why, &status] {
      try {
        ref = got.blob->commit();
      } catch (const blobs::blob_error& e) {
        why = e.what();
        status = e.store_side() ? 507 : 422;  // a document cut short is the source's
      }
    });
    if (!ref) {
      co_return ctx.intake->refuse_fetch(i, status, why, via);
    }
    if (ctx.shared_blobs) {
      // Every replica must be able to serve the blob before any of them delivers the update.
      co_await offload(*ctx.publish_pool, [&ctx, &ref, &why] {
        try {
          ctx.shared_blobs->put(*ref, *ctx.blob_files->find(ref->sha256));
        } catch (const std::exception& e) {
          why = e.what();
        }
      });
      if (!why.empty()) {
        co_return ctx.intake->refuse_fetch(
            i, 503, "the blob could not be shared with the other replicas through Redis: " + why,
            via);
      }
    }
    blob_logger()->info("entries[{}] of a publish via {}: {} fetched once, blob {} ({} bytes)", i,
                        via, http_client::redact_url(entry.url), ref->sha256, ref->size);
    // What agents receive: where to get the bytes and their hash, never the source's headers.
    blobs::point_at_blob(entry, *ref,
                         ctx.blob_signer->signed_url(ctx.public_base(), ref->sha256,
                                                     std::chrono::system_clock::now()));
    p.fetched.emplace_back(i, *ref);
  }
  http_reply reply = co_await offload(*ctx.publish_pool, [&ctx, &p, &via] {
    return ctx.intake->commit(std::move(p), via);
  });
  (void)slot;  // released when this frame ends, with the answer
  co_return reply;
}

net::awaitable<http_reply> dispatch_async(server_context& ctx, const http_request& req) {
  const route* r = find_route(ctx, req);
  if (r != nullptr && (r->blocking || (r->blocking_with_replicas && ctx.shared_deliveries))) {
    co_return co_await offload(*ctx.read_pool, [&ctx, &req] { return dispatch(ctx, req); });
  }
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
