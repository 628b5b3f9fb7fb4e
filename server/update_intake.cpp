#include "server/update_intake.hpp"

#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "server/source_policy.hpp"
#include "shared/log/log.hpp"
#include "shared/model/topics.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.hub");
  return l;
}

/** Finds the first syntax error without building a DOM; reports only its byte offset (the
 *  text around it may hold secrets). */
struct syntax_checker : nlohmann::json_sax<nlohmann::json> {
  std::size_t error_at = 0;
  bool failed = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    failed = true;
    error_at = position;
    return false;
  }
};

std::string uuid4_hex() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t hi = (rng() & 0xffffffffffff0fffULL) | 0x4000ULL;
  std::uint64_t lo = (rng() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return fmt::format("{:016x}{:016x}", hi, lo);
}

std::vector<std::string> entry_topics(const model::data_update& u) {
  std::vector<std::string> all;
  for (const auto& e : u.entries) {
    all.insert(all.end(), e.topics.begin(), e.topics.end());
  }
  return all;
}

}  // namespace

std::string validation_error_body(const model::invalid_input& e, std::string_view where) {
  nlohmann::json loc = nlohmann::json::array({where});
  std::string_view path = e.path();
  std::string part;
  auto flush = [&] {
    if (!part.empty()) {
      loc.push_back(part);
      part.clear();
    }
  };
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '.') {
      flush();
    } else if (c == '[') {
      flush();
      auto close = path.find(']', i);
      std::string idx(path.substr(i + 1, close == std::string_view::npos ? 0 : close - i - 1));
      try {
        loc.push_back(std::stoull(idx));
      } catch (const std::exception&) {
        loc.push_back(idx);
      }
      i = close == std::string_view::npos ? path.size() : close;
    } else {
      part += c;
    }
  }
  flush();
  nlohmann::json body = {
      {"detail", nlohmann::json::array({{{"loc", loc}, {"msg", e.message()},
                                          {"type", "value_error"}}})},
      {"error", e.what()}};
  // The message may echo the peer's input (model::echo cuts it on a character boundary).
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::size_t> fetched_by_server(const model::data_update& u,
                                           model::fetched_by fallback) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < u.entries.size(); ++i) {
    const auto& e = u.entries[i];
    if (!e.data_json && !e.url.empty() &&
        e.fetched_by.value_or(fallback) == model::fetched_by::server) {
      out.push_back(i);
    }
  }
  return out;
}

void seed_delivery_tracker(const update_log& log, delivery_tracker& tracker) {
  // A publisher whose POST got no answer (the server died) asks GET /data/updates/{id} after the
  // restart: an update the log kept must be known then, or the publisher would take a stored,
  // delivered update for a lost one.
  const std::uint64_t head = log.head();
  std::uint64_t cursor = head > tracker.capacity() ? head - tracker.capacity() : 0;
  while (cursor < head) {
    auto batch = log.read(cursor, head, {}, 1024, 8u * 1024 * 1024);
    for (const auto& r : batch.records) {
      tracker.accepted(r.id, r.seq, r.topics, r.accepted_at);
    }
    if (batch.scanned_to <= cursor) {
      break;
    }
    cursor = batch.scanned_to;
  }
}

update_intake::update_intake(update_log& log, hub& subscriptions, server_stats& stats,
                             model::parse_limits limits, delivery_tracker* tracker,
                             const http_client::source_rules* sources,
                             model::fetched_by fetched_by_default)
    : log_(log),
      hub_(subscriptions),
      stats_(stats),
      limits_(limits),
      tracker_(tracker),
      sources_(sources),
      fetched_by_default_(fetched_by_default),
      published_(log.head()) {
  if (tracker_ != nullptr) {
    try {
      seed_delivery_tracker(log_, *tracker_);
    } catch (const update_log_error& e) {
      logger()->warn("delivery status of earlier updates is unknown: {}", e.what());
    }
  }
}

void update_intake::publish_from_log(std::uint64_t seq, model::data_update update) {
  std::vector<std::string> topics = model::expand_topics(update);
  if (tracker_ != nullptr && update.id) {
    tracker_->accepted(*update.id, seq, topics, std::chrono::system_clock::now());
  }
  std::lock_guard lk(fanout_mu_);
  if (seq <= published_) {
    return;
  }
  recipients_[seq] = hub_.publish(update, topics);
  while (recipients_.size() > 4096) {  // only submit() of this replica collects its own
    recipients_.erase(recipients_.begin());
  }
  published_ = seq;
  fanout_cv_.notify_all();
}

void update_intake::start_from_log(std::uint64_t seq) {
  std::lock_guard lk(fanout_mu_);
  if (seq > published_) {
    published_ = seq;
    fanout_cv_.notify_all();
  }
}

std::size_t update_intake::await_published(std::uint64_t seq) {
  std::unique_lock lk(fanout_mu_);
  if (!fanout_cv_.wait_for(lk, std::chrono::seconds(5), [&] { return published_ >= seq; })) {
    // Stored in the shared log, so it will be delivered: the answer stays 200.
    logger()->warn("update seq={} is stored but this replica has not fanned it out yet", seq);
    return 0;
  }
  std::size_t n = 0;
  if (auto it = recipients_.find(seq); it != recipients_.end()) {
    n = it->second;
    recipients_.erase(it);
  }
  return n;
}

std::uint64_t update_intake::published_seq() const {
  std::lock_guard lock(fanout_mu_);
  return published_;
}

bool update_intake::wait_published(std::uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(fanout_mu_);
  return fanout_cv_.wait_for(lk, timeout, [&] { return published_ >= seq; });
}

std::size_t update_intake::release(std::uint64_t seq, std::optional<pending> p) {
  std::unique_lock lk(fanout_mu_);
  if (seq <= published_) {
    // Only when something appended to the log behind the intake's back: deliver, out of line.
    logger()->error("update seq={} arrived after seq {} was fanned out", seq, published_);
    return p ? hub_.publish(p->update, p->topics) : 0;
  }
  ready_.emplace(seq, std::move(p));
  auto drain = [&] {
    while (!ready_.empty() && ready_.begin()->first == published_ + 1) {
      auto node = ready_.extract(ready_.begin());
      if (node.mapped()) {
        recipients_[node.key()] = hub_.publish(node.mapped()->update, node.mapped()->topics);
      }
      published_ = node.key();
    }
  };
  drain();
  fanout_cv_.notify_all();
  while (published_ < seq) {
    if (fanout_cv_.wait_for(lk, std::chrono::seconds(10)) == std::cv_status::timeout &&
        published_ < seq && !ready_.empty() && ready_.begin()->first == seq &&
        seq > published_ + 1) {
      // A seq below ours never showed up (its appender died): a broken invariant, but
      // stalling every publish forever would be worse.
      logger()->error("updates {}..{} never reached the fan-out: skipped", published_ + 1,
                      seq - 1);
      published_ = seq - 1;
      drain();
      fanout_cv_.notify_all();
    }
  }
  std::size_t n = 0;
  if (auto it = recipients_.find(seq); it != recipients_.end()) {
    n = it->second;
    recipients_.erase(it);
  }
  return n;
}

http_reply update_intake::submit(std::string_view body, const caller& who, std::string_view via) {
  auto p = prepare(body, who, via);
  if (auto* refused = std::get_if<http_reply>(&p)) {
    return std::move(*refused);
  }
  auto& ready = std::get<prepared>(p);
  if (!fetched_by_server(ready.update, fetched_by_default_).empty()) {
    logger()->error("update via {} has entries the server fetches, on a path that cannot", via);
    return refuse(500, error_detail("this path cannot fetch entries for agents"),
                  refusal::unavailable);
  }
  return commit(std::move(ready), via);
}

http_reply update_intake::refuse(int status, std::string response,
                                 std::optional<refusal> reason) {
  ++stats_.updates_refused;
  stats_.refused(reason          ? *reason
                 : status == 403 ? refusal::forbidden
                 : status == 400 ? refusal::malformed
                 : status == 422 ? refusal::invalid
                                 : refusal::unavailable);
  return http_reply::json(status, std::move(response));
}

http_reply update_intake::refuse_fetch(std::size_t entry, int status,
                                       const std::string& message, std::string_view via) {
  logger()->warn("update refused via {}: entries[{}]: {}", via, entry, message);
  if (status == 422) {
    return refuse(422,
                  validation_error_body(model::invalid_input(
                      fmt::format("entries[{}].url", entry), message)),
                  refusal::source_failed);
  }
  return refuse(status, error_detail(fmt::format("entries[{}].url: {}", entry, message)),
                status == 503 ? refusal::unavailable : refusal::source_failed);
}

std::variant<update_intake::prepared, http_reply> update_intake::prepare(std::string_view body,
                                                                         const caller& who,
                                                                         std::string_view via) {
  const auto received = std::chrono::steady_clock::now();
  if (!who.may_publish()) {
    std::string peer = who.peer ? std::string(auth::to_string(*who.peer)) : "none";
    logger()->warn("update refused via {}: peer_type {} may not publish", via, peer);
    return refuse(403, error_detail(fmt::format(
                           "Incorrect 'peer_type' claim for OPAL jwt token: {}, expected: "
                           "datasource",
                           peer)));
  }
  syntax_checker checker;
  nlohmann::json::sax_parse(body, &checker);
  if (checker.failed) {
    return refuse(400, validation_error_body(model::invalid_input(
                           "", fmt::format("malformed JSON at byte {}", checker.error_at))));
  }
  model::data_update update;
  try {
    update = model::parse_data_update(body, limits_);
  } catch (const model::invalid_input& e) {
    logger()->info("update refused via {}: {}", via, e.what());
    return refuse(422, validation_error_body(e));
  }
  // permitted_topics applies to the topics as sent, before expansion (as OPAL does).
  if (auto bad = first_forbidden_topic(entry_topics(update), who.permitted_topics)) {
    logger()->warn("update refused via {}: topic '{}' is not permitted by the token", via, *bad);
    return refuse(403, error_detail(fmt::format(
                           "topic '{}' is not permitted by this token's permitted_topics", *bad)));
  }
  for (std::size_t i = 0; i < update.entries.size(); ++i) {
    if (update.entries[i].blob) {
      return refuse(422, validation_error_body(model::invalid_input(
                             fmt::format("entries[{}].blob", i), "is set by the server only")));
    }
  }
  if (sources_ != nullptr) {
    try {
      check_sources(*sources_, update);
    } catch (const model::invalid_input& e) {
      logger()->warn("update refused via {}: {}", via, e.what());
      return refuse(422, validation_error_body(e), refusal::source_refused);
    }
  }
  return prepared{std::move(update), received};
}

http_reply update_intake::commit(prepared p, std::string_view via) {
  model::data_update& update = p.update;
  std::vector<std::string> sent_topics = entry_topics(update);
  std::vector<std::string> topics = model::expand_topics(update);
  if (!update.id) {
    update.id = uuid4_hex();
  }
  std::uint64_t seq = 0;
  try {
    seq = log_.append(update);
  } catch (const update_log_error& e) {
    logger()->error("update {} not stored: {}", *update.id, e.what());
    if (e.burned_seq() != 0 && !log_.shared()) {
      release(e.burned_seq(), std::nullopt);
    }
    const std::string why = e.for_publisher().empty()
                                ? std::string("the update log is unavailable, try again later")
                                : e.for_publisher();
    return refuse(503, error_detail(why));
  }
  update.seq = seq;
  if (tracker_ != nullptr && !log_.shared()) {
    tracker_->accepted(*update.id, seq, topics, std::chrono::system_clock::now());
  }
  std::string id = *update.id;
  std::size_t entries = update.entries.size();
  std::string topic_list = fmt::format("{}", fmt::join(topics, ","));
  std::size_t recipients = log_.shared()
                               ? await_published(seq)
                               : release(seq, pending{std::move(update), std::move(topics)});
  ++stats_.updates_accepted;
  stats_.publish_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - p.received).count());
  stats_.publishes_by_topic.add(sent_topics);
  logger()->info("update accepted via {}: id={} seq={} topics=[{}] entries={} recipients={}", via,
                 id, seq, topic_list, entries, recipients);
  nlohmann::json ok = {{"status", "ok"}, {"id", id}, {"seq", seq}};
  for (const auto& [entry, blob] : p.fetched) {
    ok["blobs"].push_back({{"entry", entry}, {"sha256", blob.sha256}, {"size", blob.size}});
  }
  return http_reply::json(200, ok.dump());
}

}  // namespace pdl::server
