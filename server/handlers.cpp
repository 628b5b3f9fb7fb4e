#include "server/handlers.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "server/server_context.hpp"
#include "server/statistics.hpp"
#include "shared/auth/token_request.hpp"
#include "shared/log/log.hpp"
#include "shared/model/utf8.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> http_log() {
  static auto l = log::get("server.http");
  return l;
}

std::shared_ptr<spdlog::logger> auth_log() {
  static auto l = log::get("server.auth");
  return l;
}

const std::string ok_body = R"({"status":"ok"})";

/** The caller, or the reply refusing them. */
std::variant<caller, http_reply> authenticate(server_context& ctx, const http_request& req) {
  auto result = ctx.auth->check_bearer(req.authorization);
  if (auto* f = std::get_if<auth_failure>(&result)) {
    auth_log()->info("{} {} from {} refused: {}", req.method, req.path, req.peer, f->message);
    return auth_failure_reply(f->status, f->message);
  }
  return std::get<caller>(std::move(result));
}

}  // namespace

reply_file::~reply_file() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::string error_detail(std::string_view message) {
  // Messages may quote peer text: never let an ill-formed byte turn an answer into a throw.
  return nlohmann::json{{"detail", {{"error", message}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

http_reply auth_failure_reply(int status, std::string_view message) {
  http_reply r = http_reply::json(status, error_detail(message));
  if (status == 401) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return r;
}

http_reply handle_health(server_context& ctx, const http_request&) {
  if (auto fatal = ctx.updates->fatal_error(); !fatal.empty()) {
    return http_reply::json(503, nlohmann::json{{"status", "error"}, {"reason", fatal}}.dump());
  }
  return http_reply::json(200, ok_body);
}

http_reply handle_ready(server_context& ctx, const http_request&) {
  if (!ctx.listening.load()) {
    return http_reply::json(503, R"({"status":"starting"})");
  }
  if (!ctx.updates->healthy()) {
    return http_reply::json(503, R"({"status":"unavailable","reason":"the update log is unreachable"})");
  }
  return http_reply::json(200, ok_body);
}

std::optional<http_reply> refuse_without_master_token(server_context& ctx,
                                                      const http_request& req) {
  if (auto f = ctx.auth->check_master(req.authorization)) {
    auth_log()->warn("POST /token from {} refused: {}", req.peer, f->message);
    return auth_failure_reply(f->status, f->message);
  }
  return std::nullopt;
}

std::optional<http_reply> refuse_unauthenticated(server_context& ctx, const http_request& req) {
  auto who = authenticate(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    return std::move(*refused);
  }
  return std::nullopt;
}

namespace {

void count_refused_publisher(server_context& ctx, const http_reply& refused) {
  ctx.stats.refused(refused.status == 401   ? refusal::unauthorized
                    : refused.status == 403 ? refusal::forbidden
                                            : refusal::unavailable);
}

}  // namespace

std::optional<http_reply> refuse_unauthenticated_publisher(server_context& ctx,
                                                           const http_request& req) {
  auto refused = refuse_unauthenticated(ctx, req);
  if (refused) {
    count_refused_publisher(ctx, *refused);
  }
  return refused;
}

http_reply handle_token(server_context& ctx, const http_request& req) {
  if (auto refused = refuse_without_master_token(ctx, req)) {
    return std::move(*refused);
  }
  auth::token_request tr;
  try {
    tr = auth::parse_token_request(req.body);
  } catch (const model::invalid_input& e) {
    return http_reply::json(422, validation_error_body(e));
  }
  nlohmann::json answer = auth::issue_token(ctx.auth->signer(), tr, std::chrono::system_clock::now());
  auth_log()->info("token issued to {}: id={} type={} ttl={}s", req.peer, tr.id,
                   auth::to_string(tr.type), tr.ttl.count());
  return http_reply::json(200, answer.dump());
}

http_reply handle_jwks(server_context& ctx, const http_request&) {
  return http_reply::json(200, ctx.auth->jwks().dump());
}

http_reply handle_get_data_config(server_context& ctx, const http_request& req) {
  auto who = authenticate(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    return std::move(*refused);
  }
  if (ctx.cfg.external_source_url) {
    // OPAL appends ?token=<jwt> to this URL, and a token in a URL ends up in access logs,
    // proxies and Referer headers. We redirect to the URL as configured; our agent follows this
    // one hop itself and sends its client token in "Authorization: Bearer", where the external
    // service reads it (agent/base_config.hpp, docs/external-sources.md).
    http_reply r = http_reply::json(307, "");
    r.headers.emplace_back("Location", *ctx.cfg.external_source_url);
    return r;
  }
  if (ctx.base_refresh && ctx.base_refresh->active()) {
    return http_reply::json(200, ctx.base_refresh->config_json());  // signed now
  }
  return http_reply::json(200, ctx.base_config_json);
}

std::variant<caller, http_reply> authenticate_publisher(server_context& ctx,
                                                        const http_request& req) {
  auto who = authenticate(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    count_refused_publisher(ctx, *refused);
  }
  return who;
}

http_reply handle_post_data_config(server_context& ctx, const http_request& req) {
  auto who = authenticate_publisher(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    return std::move(*refused);
  }
  return ctx.intake->submit(req.body, std::get<caller>(who), "http");
}

http_reply handle_policy(server_context& ctx, const http_request& req) {
  auto who = authenticate(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    return std::move(*refused);
  }
  policy::bundle_query q;
  try {
    q = policy::parse_bundle_query(req.query);
  } catch (const model::invalid_input& e) {
    return http_reply::json(422, validation_error_body(e, "query"));
  }
  auto a = ctx.policies->answer(q);
  return http_reply::json(a.status, std::move(a.body));
}

http_reply handle_get_blob(server_context& ctx, const http_request& req) {
  if (!ctx.blob_files) {
    return http_reply::json(404, error_detail("this server keeps no blobs (no blob store)"));
  }
  const std::string_view sha256 = std::string_view(req.path).substr(req.path.rfind('/') + 1);
  // A signed URL (what OPAL's client is given) needs no token; otherwise an agent's JWT.
  const bool signed_ok =
      !req.query.empty() && ctx.blob_signer->valid(sha256, req.query, std::chrono::system_clock::now());
  if (!signed_ok) {
    if (req.authorization.empty() && !req.query.empty()) {
      auth_log()->info("GET /data/blobs/{} from {} refused: the signature is invalid or expired",
                       sha256.substr(0, 12), req.peer);
      return auth_failure_reply(403, "the blob URL's signature is invalid or has expired");
    }
    auto who = authenticate(ctx, req);
    if (auto* refused = std::get_if<http_reply>(&who)) {
      return std::move(*refused);
    }
    const auto& c = std::get<caller>(who);
    if (!c.auth_disabled && c.peer != auth::peer_type::client) {
      const std::string_view peer = c.peer ? auth::to_string(*c.peer) : "none";
      auth_log()->info("GET /data/blobs/{} from {} refused: peer_type {}", sha256.substr(0, 12),
                       req.peer, peer);
      return auth_failure_reply(
          403, fmt::format("blobs are read by agents (a client token), not by peer_type {}", peer));
    }
  }
  auto path = ctx.blob_files->find(sha256);
  if (!path && ctx.shared_blobs && sha256.size() == 64) {
    // Another replica fetched it: copy it from Redis once, then serve it from here.
    try {
      if (ctx.shared_blobs->fetch_into(*ctx.blob_files, sha256, ctx.cfg.blobs_max_blob_bytes)) {
        path = ctx.blob_files->find(sha256);
      }
    } catch (const std::exception& e) {
      http_log()->warn("GET /data/blobs/{} from {}: not copied from Redis: {}",
                       sha256.substr(0, 12), req.peer, e.what());
      http_reply r = http_reply::json(
          503, error_detail("the blob is not here and Redis could not provide it, try again"));
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
  }
  const int fd = path ? ::open(path->c_str(), O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) {
    return http_reply::json(
        404, error_detail(fmt::format("no blob {}: it was never stored here or is no longer "
                                      "referred to by any update",
                                      sha256.size() == 64 ? sha256 : "with that name")));
  }
  struct stat st {};
  auto file = std::make_shared<reply_file>(fd, ::fstat(fd, &st) == 0 ? st.st_size : 0);
  http_reply r;
  r.status = 200;
  r.file = std::move(file);
  r.headers.emplace_back("ETag", fmt::format("\"{}\"", sha256));
  r.headers.emplace_back("Cache-Control", "private, max-age=31536000, immutable");
  return r;
}

http_reply handle_policy_data(server_context&, const http_request& req) {
  http_log()->warn("GET {} from {}: this is OPAL's placeholder data source and serves {{}}",
                   req.path, req.peer);
  return http_reply::json(200, "{}");
}

http_reply handle_callback_report(server_context& ctx, const http_request& req) {
  auto who = authenticate(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    return std::move(*refused);
  }
  auto doc = nlohmann::json::parse(req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return http_reply::json(
        422, validation_error_body(model::invalid_input("", "expected a DataUpdateReport object")));
  }
  // Only ids and flags: entry config and data may carry secrets.
  std::string update_id = "null";
  if (auto it = doc.find("update_id"); it != doc.end() && it->is_string()) {
    update_id = it->get<std::string>();
  }
  std::vector<std::string> flags;
  std::vector<std::string> errors;
  if (auto it = doc.find("reports"); it != doc.end() && it->is_array()) {
    for (const auto& r : *it) {
      if (!r.is_object()) {
        continue;
      }
      auto flag = [&](const char* name) {
        auto f = r.find(name);
        return f != r.end() && f->is_boolean() && f->get<bool>();
      };
      bool fetched = flag("fetched");
      bool saved = flag("saved");
      flags.push_back(fmt::format("fetched={} saved={}", fetched, saved));
      if (!fetched || !saved) {
        std::string where = "?";
        if (auto e = r.find("entry"); e != r.end() && e->is_object()) {
          if (auto d = e->find("dst_path"); d != e->end() && d->is_string()) {
            where = model::truncate_utf8(d->get_ref<const std::string&>(), 256);
          }
        }
        errors.push_back(fmt::format("{}: {}", where, fetched ? "save failed" : "fetch failed"));
      }
    }
  }
  http_log()->info("callback report from {}: update_id={} entries={} [{}]", req.peer, update_id,
                   flags.size(), fmt::join(flags, "; "));
  ++(errors.empty() ? ctx.stats.reports_applied : ctx.stats.reports_failed);
  const caller& c = std::get<caller>(who);
  if (update_id != "null" && ctx.deliveries) {
    // OPAL clients acknowledge this way; the token's sub is the closest thing to an agent id.
    std::string agent = c.subject.empty() ? "anonymous" : c.subject;
    bool ok = errors.empty();
    ctx.deliveries->acknowledged(update_id, 0, agent, ok, std::move(errors));
  }
  return http_reply::json(200, "{}");
}

namespace {

/** With replicas: the status for the whole cluster (runs on the read pool: it asks Redis).
 *  @throws redis::redis_error */
std::optional<std::string> cluster_update_status(server_context& ctx, const std::string& id) {
  auto local = ctx.deliveries->snapshot(id);
  if (!local) {
    // Published through another replica a moment ago, this replica's tail may not have
    // reached it yet: catch up with the shared log's head before saying 404.
    const std::uint64_t head = ctx.shared_deliveries->log_head();
    if (head > ctx.intake->published_seq() &&
        ctx.intake->wait_published(head, std::chrono::seconds(2))) {
      local = ctx.deliveries->snapshot(id);
    }
  }
  if (!local) {
    return std::nullopt;
  }
  return ctx.shared_deliveries->status_json(*local);
}

}  // namespace

http_reply handle_update_status(server_context& ctx, const http_request& req) {
  auto who = authenticate(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    return std::move(*refused);
  }
  const caller& c = std::get<caller>(who);
  if (!c.auth_disabled && c.peer != auth::peer_type::datasource &&
      c.peer != auth::peer_type::listener) {
    std::string peer = c.peer ? std::string(auth::to_string(*c.peer)) : "none";
    return auth_failure_reply(
        403, fmt::format("Incorrect 'peer_type' claim for OPAL jwt token: {}, expected: "
                         "datasource or listener",
                         peer));
  }
  constexpr std::string_view prefix = "/data/updates/";
  std::string id = req.path.substr(std::min(req.path.size(), prefix.size()));
  std::optional<std::string> status;
  if (ctx.deliveries && !id.empty() && id.size() <= 256) {
    if (!ctx.shared_deliveries) {
      status = ctx.deliveries->status_json(id);
    } else {
      try {
        status = cluster_update_status(ctx, id);
      } catch (const redis::redis_error& e) {
        http_reply r = http_reply::json(503, R"({"detail":"the delivery status of the other )"
                                             R"(replicas is unavailable, try again later"})");
        r.log_detail = fmt::format("delivery status from Redis: {}", e.what());
        return r;
      }
    }
  }
  if (!status) {
    return http_reply::json(404, R"({"detail":"unknown update id"})");
  }
  return http_reply::json(200, std::move(*status));
}

http_reply handle_metrics(server_context& ctx, const http_request&) {
  http_reply r = http_reply::json(200, ctx.metrics.render());
  r.content_type = std::string(metrics::content_type);
  return r;
}

namespace {

/** /statistics and /stats: the master token, or a JWT of a listener peer (auth disabled: any
 *  caller, as every other route). nullopt = allowed. */
std::optional<http_reply> refuse_unless_listener(server_context& ctx, const http_request& req) {
  if (!ctx.auth->check_master(req.authorization)) {
    return std::nullopt;
  }
  auto who = authenticate(ctx, req);
  if (auto* refused = std::get_if<http_reply>(&who)) {
    return std::move(*refused);
  }
  const caller& c = std::get<caller>(who);
  if (!c.auth_disabled && c.peer != auth::peer_type::listener) {
    std::string peer = c.peer ? std::string(auth::to_string(*c.peer)) : "none";
    auth_log()->info("{} {} from {} refused: peer_type {}", req.method, req.path, req.peer, peer);
    return auth_failure_reply(
        403, fmt::format("Incorrect 'peer_type' claim for OPAL jwt token: {}, expected: listener",
                         peer));
  }
  return std::nullopt;
}

}  // namespace

http_reply handle_statistics(server_context& ctx, const http_request& req) {
  if (auto refused = refuse_unless_listener(ctx, req)) {
    return std::move(*refused);
  }
  return http_reply::json(200, statistics_json(ctx));
}

http_reply handle_stats(server_context& ctx, const http_request& req) {
  if (auto refused = refuse_unless_listener(ctx, req)) {
    return std::move(*refused);
  }
  return http_reply::json(200, stats_brief_json(ctx));
}

http_reply handle_openapi(server_context& ctx, const http_request&) {
  return http_reply::json(200, ctx.openapi_json);
}

http_reply handle_ws_without_upgrade(server_context&, const http_request&) {
  return http_reply::json(426, error_detail("expected a WebSocket upgrade"));
}

}  // namespace pdl::server
