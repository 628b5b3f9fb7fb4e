#include "server/ws_rpc.hpp"

#include <algorithm>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "server/server_context.hpp"
#include "server/session_registry.hpp"
#include "shared/log/log.hpp"
#include "shared/rpc/rpc.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.ws");
  return l;
}

constexpr std::string_view stats_prefix = "__opal_stats";

std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s)).dump();
}

}  // namespace

ws_rpc::ws_rpc(server_context& ctx, std::string session_id, caller who, session_peer peer)
    : ctx_(ctx), session_id_(std::move(session_id)), who_(std::move(who)), peer_(std::move(peer)) {
  if (peer_.agent_id.empty()) {
    peer_.agent_id = session_id_;
  }
}

std::optional<std::string> ws_rpc::on_frame(std::string_view text) {
  rpc::frame f;
  try {
    f = rpc::decode(text, ctx_.cfg.ws_max_message_bytes);
  } catch (const model::invalid_input& e) {
    logger()->warn("conn={} unreadable frame ignored: {}", session_id_, e.what());
    return std::nullopt;
  }
  if (!f.req) {
    return std::nullopt;  // an answer to our notify: we never wait for those
  }
  const rpc::request& req = *f.req;
  if (req.method == "_ping_" || req.method == "ping") {
    return rpc::encode_response(R"("pong")", "str", req.call_id);
  }
  if (req.method == "_get_channel_id_") {
    return rpc::encode_response(json_string(session_id_), "str", req.call_id);
  }
  if (req.method == "subscribe") {
    return rpc::encode_response(handle_subscribe(req.arguments_json), "bool", req.call_id);
  }
  if (req.method == "unsubscribe") {
    try {
      ctx_.subscriptions.unsubscribe(session_id_, rpc::decode_topics_arguments(req.arguments_json));
    } catch (const model::invalid_input& e) {
      logger()->warn("conn={} unsubscribe refused: {}", session_id_, e.what());
      return rpc::encode_response("false", "bool", req.call_id);
    }
    return rpc::encode_response("true", "bool", req.call_id);
  }
  if (req.method == "publish") {
    auto now = handle_publish(req.arguments_json, req.call_id);
    if (!now) {
      return std::nullopt;  // the session answers once stored (take_publish)
    }
    return rpc::encode_response(*now, "bool", req.call_id);
  }
  if (req.method == "pdl_applied" && peer_.protocol1) {
    return rpc::encode_response(handle_applied(req.arguments_json), "bool", req.call_id);
  }
  if (req.method.front() == '_') {
    return std::nullopt;
  }
  logger()->warn("conn={} unknown RPC method '{}'", session_id_,
                 req.method.substr(0, 64));
  return rpc::encode_response("null", "error", req.call_id);
}

std::string ws_rpc::handle_subscribe(std::string_view args) {
  std::vector<std::string> topics;
  try {
    topics = rpc::decode_topics_arguments(args);
  } catch (const model::invalid_input& e) {
    logger()->warn("conn={} subscribe refused: {}", session_id_, e.what());
    return "false";
  }
  if (auto bad = first_forbidden_topic(topics, who_.permitted_topics)) {
    logger()->warn("conn={} subscribe refused: topic '{}' is not permitted by the token",
                   session_id_, *bad);
    return "false";
  }
  std::optional<std::uint64_t> after_seq;
  if (peer_.protocol1) {
    auto doc = nlohmann::json::parse(args, nullptr, false);  // decoded above: an object
    if (auto it = doc.find("after_seq"); it != doc.end() && !it->is_null()) {
      if (!it->is_number_unsigned()) {
        logger()->warn("conn={} subscribe refused: arguments.after_seq: expected a "
                       "non-negative integer",
                       session_id_);
        return "false";
      }
      after_seq = it->get<std::uint64_t>();
    }
  }
  ctx_.subscriptions.subscribe(session_id_, topics);
  resume_ = after_seq;
  if (peer_.info) {
    const std::uint64_t published = ctx_.intake->published_seq();
    // An after_seq past the log's end gets the whole log (ws_session.cpp): it holds nothing.
    peer_.info->subscribed(after_seq && *after_seq > published ? std::optional<std::uint64_t>(0)
                                                               : after_seq,
                           published);
  }
  logger()->info("conn={} agent={} subscribed to [{}]{}", session_id_, peer_.agent_id,
                 fmt::join(topics, ","),
                 after_seq ? fmt::format(" after seq {}", *after_seq) : std::string());
  return "true";
}

std::string ws_rpc::handle_applied(std::string_view args) {
  auto doc = nlohmann::json::parse(args, nullptr, false);
  auto bad = [&](std::string_view why) {
    logger()->warn("conn={} pdl_applied refused: {}", session_id_, why);
    return std::string("false");
  };
  if (!doc.is_object()) {
    return bad("arguments: expected an object");
  }
  auto id = doc.find("id");
  if (id == doc.end() || !id->is_string() || id->get_ref<const std::string&>().size() > 256) {
    return bad("arguments.id: expected a string of at most 256 bytes");
  }
  std::uint64_t seq = 0;
  if (auto it = doc.find("seq"); it != doc.end() && !it->is_null()) {
    if (!it->is_number_unsigned()) {
      return bad("arguments.seq: expected a non-negative integer");
    }
    seq = it->get<std::uint64_t>();
  }
  auto ok = doc.find("ok");
  if (ok == doc.end() || !ok->is_boolean()) {
    return bad("arguments.ok: expected true or false");
  }
  std::vector<std::string> errors;
  if (auto it = doc.find("errors"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) {
      return bad("arguments.errors: expected a list of strings");
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) {
        return bad(fmt::format("arguments.errors[{}]: expected a string", i));
      }
      errors.push_back((*it)[i].get<std::string>());
    }
  }
  const std::string& update_id = id->get_ref<const std::string&>();
  ++(ok->get<bool>() ? ctx_.stats.reports_applied : ctx_.stats.reports_failed);
  if (peer_.info) {
    std::uint64_t at = seq;
    if (at == 0 && ctx_.deliveries) {
      at = ctx_.deliveries->seq_of(update_id).value_or(0);
    }
    // A seq beyond what was published is not one we sent: it must not hide a lag.
    if (at != 0 && at <= ctx_.intake->published_seq()) {
      peer_.info->acknowledged(at);
    }
  }
  bool tracked = ctx_.deliveries != nullptr &&
                 ctx_.deliveries->acknowledged(update_id, seq, peer_.agent_id, ok->get<bool>(),
                                               std::move(errors));
  logger()->debug("conn={} agent={} {} update id={} seq={}{}", session_id_, peer_.agent_id,
                  ok->get<bool>() ? "applied" : "failed", update_id, seq,
                  tracked ? "" : " (not tracked)");
  return "true";
}

std::optional<std::string> ws_rpc::handle_publish(std::string_view args,
                                                  const std::string& call_id) {
  auto doc = nlohmann::json::parse(args, nullptr, false);
  std::vector<std::string> topics;
  if (doc.is_object()) {
    if (auto it = doc.find("topics"); it != doc.end() && it->is_array()) {
      for (const auto& t : *it) {
        if (t.is_string()) {
          topics.push_back(t.get<std::string>());
        }
      }
    }
  }
  if (!topics.empty() && std::all_of(topics.begin(), topics.end(), [](const std::string& t) {
        return t.rfind(stats_prefix, 0) == 0;
      })) {
    return "true";  // OPAL client statistics: accepted, not kept
  }
  if (!who_.may_publish()) {
    logger()->warn("conn={} publish refused: only datasource tokens may publish", session_id_);
    ctx_.stats.refused(refusal::forbidden);
    return "false";
  }
  if (auto bad = first_forbidden_topic(topics, who_.permitted_topics)) {
    logger()->warn("conn={} publish refused: topic '{}' is not permitted by the token",
                   session_id_, *bad);
    ctx_.stats.refused(refusal::forbidden);
    return "false";
  }
  auto data = doc.is_object() ? doc.find("data") : doc.end();
  if (!doc.is_object() || data == doc.end() || !data->is_object()) {
    logger()->warn("conn={} publish refused: 'data' is not a DataUpdate object", session_id_);
    ctx_.stats.refused(refusal::invalid);
    return "false";
  }
  publish_ = deferred_publish{call_id, data->dump(), who_};
  return std::nullopt;
}

std::string ws_rpc::publish_answer(const deferred_publish& p, const http_reply& r) const {
  if (r.status != 200) {
    // Overloaded (503 with Retry-After) is logged where it is decided, rate-limited.
    const bool overloaded = std::any_of(r.headers.begin(), r.headers.end(),
                                        [](const auto& h) { return h.first == "Retry-After"; });
    // A 500 (the store threw) was logged where it was caught, once.
    if (!overloaded && r.status != 500) {
      logger()->warn("conn={} publish refused ({}): {}", session_id_, r.status, r.body);
    }
    return rpc::encode_response("false", "bool", p.call_id);
  }
  return rpc::encode_response("true", "bool", p.call_id);
}

}  // namespace pdl::server
