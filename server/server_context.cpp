#include "server/server_context.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "server/file_update_log.hpp"
#include "server/memory_update_log.hpp"
#include "server/openapi.hpp"
#include "server/redis_update_log.hpp"
#include "server/server_metrics.hpp"
#include "server/source_policy.hpp"
#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"
#include "shared/rpc/rpc.hpp"

namespace pdl::server {
namespace {

update_log_ptr open_update_log(const config::server_config& cfg) {
  auto logger = log::get("server.store");
  if (!cfg.broadcast_uri.empty()) {
    if (!cfg.data_dir.empty()) {
      throw config::config_error({config::problem{
          "server.data_dir", "with broadcast.uri (Redis) the update log lives in Redis: leave "
                             "the data directory unset"}});
    }
    redis_log_options o;
    try {
      o.where = redis::parse_uri(cfg.broadcast_uri.reveal());
    } catch (const std::invalid_argument& e) {
      throw config::config_error({config::problem{"broadcast.uri", e.what()}});
    }
    o.key_prefix = cfg.broadcast_key_prefix;
    o.retained_updates = cfg.broadcast_retained_updates;
    o.timeout = cfg.broadcast_timeout;
    o.min_replicas = cfg.broadcast_min_replicas;
    o.min_replicas_timeout = cfg.broadcast_min_replicas_timeout;
    return std::make_unique<redis_update_log>(o);
  }
  if (cfg.data_dir.empty()) {
    logger->warn("no data directory (server.data_dir, OPAL_SERVER_DATA_DIR, --data-dir): "
                 "updates are kept in memory only and are lost on restart; agents that "
                 "reconnect after a restart get a full replay");
    return std::make_unique<memory_update_log>(cfg.log_retained_updates);
  }
  file_log_options o;
  o.dir = cfg.data_dir;
  o.fsync = cfg.log_fsync;
  o.fsync_interval = cfg.log_fsync_interval;
  o.segment_bytes = cfg.log_segment_bytes;
  o.retention_bytes = cfg.log_retention_bytes;
  o.retention_age = cfg.log_retention_age;
  try {
    auto l = std::make_unique<file_update_log>(o);
    const auto& r = l->opened();
    logger->info("update log in {}: {} updates in {} segments, head seq {}, complete from seq {}, "
                 "fsync {}{}",
                 cfg.data_dir, r.records, r.segments, l->head(), l->first_seq(),
                 config::to_string(cfg.log_fsync),
                 r.cut_bytes > 0 ? fmt::format(" ({} torn bytes cut)", r.cut_bytes) : "");
    return l;
  } catch (const update_log_error& e) {
    throw config::config_error({config::problem{"server.data_dir", e.what()}});
  }
}

std::uint64_t next_temp_id() {
  static std::atomic<std::uint64_t> n{0};
  return n.fetch_add(1);
}

/** blobs.dir, else <data_dir>/blobs, else a folder of this process's own under $TMPDIR. */
std::string blob_dir_of(const config::server_config& cfg, bool& temporary) {
  temporary = false;
  if (!cfg.blobs_dir.empty()) {
    return cfg.blobs_dir;
  }
  if (!cfg.data_dir.empty()) {
    return (std::filesystem::path(cfg.data_dir) / "blobs").string();
  }
  temporary = true;
  const char* tmp = std::getenv("TMPDIR");
  return (std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
          fmt::format("pdl-blobs-{}-{}", ::getpid(), next_temp_id()))
      .string();
}

void open_blobs(server_context& ctx) {
  const auto& cfg = ctx.cfg;
  bool temporary = false;
  const std::string dir = blob_dir_of(cfg, temporary);
  try {
    ctx.blob_files = std::make_unique<blobs::blob_store>(dir, cfg.blobs_max_bytes);
  } catch (const blobs::blob_error& e) {
    if (!temporary) {
      throw config::config_error({config::problem{"blobs.dir", e.what()}});
    }
    // Nobody asked for one: everything but fetch once works without it.
    ctx.blobs_unavailable = fmt::format(
        "{}; set blobs.dir (OPAL_BLOBS_DIR) or server.data_dir to a writable folder", e.what());
    log::get("server.blobs")
        ->warn("fetch once is off (entries with fetched_by: server are refused): {}",
               ctx.blobs_unavailable);
    return;
  }
  if (temporary) {
    ctx.blob_temp_dir = dir;
  }
  blobs::source_fetch_options o;
  o.total_timeout = cfg.blobs_fetch_timeout;
  o.max_bytes = cfg.blobs_max_blob_bytes;
  o.rules = ctx.sources.get();
  ctx.blob_fetcher = std::make_unique<blobs::source_fetcher>(*ctx.blob_files, o);
  if (!cfg.broadcast_uri.empty()) {
    ctx.shared_blobs = std::make_unique<blobs::redis_blobs>(
        redis::parse_uri(cfg.broadcast_uri.reveal()), cfg.broadcast_key_prefix,
        cfg.broadcast_timeout, cfg.broadcast_min_replicas, cfg.broadcast_min_replicas_timeout);
  }
  const auto& key = ctx.auth->signer().key();
  ctx.blob_signer = std::make_unique<blobs::blob_urls>(
      blobs::derive_url_key(key.sign_rs256(blobs::url_key_label)), cfg.blobs_url_ttl);
  log::get("server.blobs")
      ->info("blob store in {}{}: {} blobs, {} of {} bytes used", dir,
             temporary ? " (this process's own, removed at exit)" : "", ctx.blob_files->count(),
             ctx.blob_files->used_bytes(), cfg.blobs_max_bytes);
}

}  // namespace

std::string server_context::public_base() const {
  if (!cfg.public_url.empty()) {
    return cfg.public_url;
  }
  const std::string& h = cfg.host;
  if (h.empty() || h == "0.0.0.0" || h == "::" || h == "[::]") {
    return "";
  }
  const bool v6 = h.find(':') != std::string::npos && h.front() != '[';
  return fmt::format("{}://{}{}{}:{}", cfg.tls.enabled() ? "https" : "http", v6 ? "[" : "", h,
                     v6 ? "]" : "", bound_port.load());
}

server_context::server_context(config::server_config c)
    : cfg(std::move(c)),
      publish_pool(std::make_unique<net::thread_pool>(std::max(1, cfg.publish_threads))),
      read_pool(std::make_unique<net::thread_pool>(replay_read_threads)) {}

server_context::~server_context() {
  if (shared_deliveries) {
    shared_deliveries->stop();  // its thread reads the tracker and the intake
  }
  if (base_refresh) {
    base_refresh->stop();  // it publishes through the intake
  }
  stop_pools();
  blob_retention.reset();  // reads the update log
  updates.reset();
  base_refresh.reset();
  blob_retention.reset();
  blob_fetcher.reset();  // ends the transfers still running before their store goes
  shared_blobs.reset();
  blob_files.reset();
  if (!blob_temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(blob_temp_dir, ec);
  }
}

void server_context::stop_pools() {
  for (auto* pool : {&publish_pool, &read_pool}) {
    if (*pool) {
      (*pool)->stop();
      (*pool)->join();
      // Destroys the tasks it dropped now, while the io_context their results were bound for
      // still exists (their work guards and coroutine frames refer to it).
      pool->reset();
    }
  }
}

std::unique_ptr<server_context> make_server_context(config::server_config cfg,
                                                    update_log_ptr log) {
  auto ctx = std::make_unique<server_context>(std::move(cfg));
  ctx->server_id = rpc::new_call_id();
  ctx->auth = server_auth::create(ctx->cfg);
  ctx->updates = log ? std::move(log) : open_update_log(ctx->cfg);
  ctx->deliveries = std::make_unique<delivery_tracker>(ctx->cfg.tracked_updates);
  ctx->subscriptions.on_delivered(
      [d = ctx->deliveries.get()](std::uint64_t seq, const std::vector<const std::string*>& agents) {
        d->delivered(seq, agents);
      });
  ctx->sources = std::make_unique<const http_client::source_rules>(server_source_rules(ctx->cfg));
  ctx->intake = std::make_unique<update_intake>(*ctx->updates, ctx->subscriptions, ctx->stats,
                                                model::parse_limits{}, ctx->deliveries.get(),
                                                ctx->sources.get(), ctx->cfg.fetched_by_default);
  if (auto* shared_log = dynamic_cast<redis_update_log*>(ctx->updates.get())) {
    shared_log->start_tail(
        ctx->intake->published_seq(),
        [intake = ctx->intake.get()](std::uint64_t seq, model::data_update u) {
          intake->publish_from_log(seq, std::move(u));
        },
        [intake = ctx->intake.get()](std::uint64_t seq) { intake->start_from_log(seq); });
    redis_deliveries_options o;
    o.where = redis::parse_uri(ctx->cfg.broadcast_uri.reveal());
    o.key_prefix = ctx->cfg.broadcast_key_prefix;
    o.replica_id = ctx->server_id;
    o.timeout = ctx->cfg.broadcast_timeout;
    ctx->shared_deliveries = std::make_unique<redis_deliveries>(
        std::move(o), *ctx->deliveries,
        [intake = ctx->intake.get()] { return intake->published_seq(); });
  }
  open_blobs(*ctx);
  ctx->base_config_json = model::data_source_config_to_json(ctx->cfg.data_config_entries);
  blobs::base_refresh_hooks hooks;
  hooks.publish = [c = ctx.get()](model::data_update u) {
    return c->intake->commit(update_intake::prepared{std::move(u), std::chrono::steady_clock::now()},
                             "refresh")
        .status;
  };
  hooks.signed_url = [c = ctx.get()](const std::string& sha256) {
    return c->blob_signer->signed_url(c->public_base(), sha256, std::chrono::system_clock::now());
  };
  if (ctx->blob_files) {
    ctx->base_refresh = std::make_unique<blobs::base_refresher>(
        ctx->cfg.data_config_entries, ctx->cfg.fetched_by_default, *ctx->blob_fetcher,
        *ctx->blob_files, ctx->shared_blobs.get(), std::move(hooks));
  } else {
    model::data_update base;
    base.entries = ctx->cfg.data_config_entries;
    if (!fetched_by_server(base, ctx->cfg.fetched_by_default).empty()) {
      throw config::config_error({config::problem{
          "blobs.dir", "base entries are fetched by the server, and there is no blob store: " +
                           ctx->blobs_unavailable}});
    }
  }
  ctx->policies = std::make_unique<policy::policy_source>(policy::options_of(ctx->cfg));
  ctx->routes = route_table(ctx->cfg.data_config_route);
  ctx->openapi_json = build_openapi(ctx->routes);
  register_server_metrics(*ctx);
  return ctx;
}

}  // namespace pdl::server
