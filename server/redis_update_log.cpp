#include "server/redis_update_log.hpp"

#include <charconv>

#include <fmt/format.h>

#include "shared/auth/token_request.hpp"  // make_uuid4
#include "shared/log/log.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.store");
  return l;
}

// KEYS: seq, log, log_id. ARGV: expected log id, update JSON without seq, MAXLEN, id, topics, at.
// The seq goes last in the JSON, as model::to_json puts it (the file log does the same).
constexpr const char* append_script = R"lua(
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return redis.error_reply('PDL_LOG_ID the update log in Redis has another id (Redis lost its data?)')
end
local seq = redis.call('INCR', KEYS[1])
local body = string.sub(ARGV[2], 1, -2) .. ',"seq":' .. seq .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0',
           'id', ARGV[4], 'topics', ARGV[5], 'at', ARGV[6], 'u', body)
return seq
)lua";

// KEYS: log_id. ARGV: the id we serve, a new one. A rewound log gets a new id, once.
constexpr const char* replace_id_script = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
end
return redis.call('GET', KEYS[1])
)lua";

std::uint64_t parse_seq(std::string_view s) {
  std::uint64_t v = 0;
  const auto dash = s.find('-');
  const auto digits = s.substr(0, dash);
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (r.ec != std::errc{} || r.ptr != digits.data() + digits.size()) {
    throw std::invalid_argument("not a seq");
  }
  return v;
}

std::string join_topics(const std::vector<std::string>& topics) {
  std::string out;
  for (const auto& t : topics) {
    if (!out.empty()) {
      out += '\n';
    }
    out += t;
  }
  return out;
}

std::vector<std::string> split_topics(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    const auto nl = s.find('\n', start);
    out.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) {
      break;
    }
    start = nl + 1;
  }
  return out;
}

/** One stream entry ([id, [field, value, ...]]) as a log_record. @throws std::invalid_argument */
log_record to_record(const redis::reply& entry) {
  if (entry.type != redis::reply::kind::array || entry.elements.size() != 2 ||
      entry.elements[1].type != redis::reply::kind::array) {
    throw std::invalid_argument("a stream entry of an unexpected shape");
  }
  log_record r;
  r.seq = parse_seq(entry.elements[0].str);
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const auto& name = fields[i].str;
    const auto& value = fields[i + 1].str;
    if (name == "id") {
      r.id = value;
    } else if (name == "topics") {
      r.topics = split_topics(value);
    } else if (name == "at") {
      r.accepted_at = std::chrono::system_clock::time_point(
          std::chrono::milliseconds(static_cast<std::int64_t>(parse_seq(value))));
    } else if (name == "u") {
      r.json = std::make_shared<const std::string>(value);
    }
  }
  if (!r.json) {
    throw std::invalid_argument(fmt::format("stream entry {} has no update", r.seq));
  }
  return r;
}

}  // namespace

redis_update_log::redis_update_log(redis_log_options options)
    : opts_(std::move(options)), instance_(auth::make_uuid4()) {
  redis::client_options co;
  co.where = opts_.where;
  co.timeout = opts_.timeout;
  co.name = "redis (commands)";
  commands_ = std::make_unique<redis::client>(co);
  co.name = "redis (tail)";
  tail_ = std::make_unique<redis::client>(co);
  if (!ensure_identity()) {
    logger()->warn("Redis at {} is not reachable yet: publishing answers 503 and /ready is "
                   "false until it is",
                   opts_.where.describe());
  }
}

redis_update_log::~redis_update_log() {
  {
    std::lock_guard lk(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (tail_thread_.joinable()) {
    tail_thread_.join();
  }
}

void redis_update_log::note_head(std::uint64_t seq) const {
  std::uint64_t cur = head_.load();
  while (seq > cur && !head_.compare_exchange_weak(cur, seq)) {
  }
}

bool redis_update_log::ensure_identity() const {
  {
    std::lock_guard lk(mu_);
    if (!log_id_.empty()) {
      return true;
    }
  }
  // The round trips run without mu_: log_id() (a WebSocket upgrade, /statistics) must never
  // wait for Redis. Two threads may both ask; SET NX makes them agree.
  std::string found;
  std::uint64_t head = 0;
  try {
    commands_->call({"SET", key("log_id"), auth::make_uuid4(), "NX"});
    auto id = commands_->call({"GET", key("log_id")});
    auto seq = commands_->call({"GET", key("seq")});
    if (id.type != redis::reply::kind::string || id.str.empty()) {
      return false;
    }
    head = seq.type == redis::reply::kind::string ? parse_seq(seq.str) : 0;
    found = id.str;
  } catch (const std::exception& e) {
    return false;
  }
  note_head(head);
  std::lock_guard lk(mu_);
  if (log_id_.empty()) {
    identity_head_ = head;
    log_id_ = std::move(found);
    logger()->info("update log in Redis at {} (keys {}:*): log id {}, head seq {}",
                   opts_.where.describe(), opts_.key_prefix, log_id_, head_.load());
  }
  return true;
}

std::string redis_update_log::log_id() const {
  // No round trip (STYLE H6): the constructor, the tail and append() learn the id.
  std::lock_guard lk(mu_);
  return log_id_;
}

std::uint64_t redis_update_log::append(const model::data_update& update) {
  if (!ensure_identity()) {
    throw update_log_error(fmt::format("Redis at {} is unreachable", opts_.where.describe()));
  }
  std::string body;
  if (update.seq) {
    model::data_update copy = update;
    copy.seq.reset();
    body = model::to_json(copy);
  } else {
    body = model::to_json(update);
  }
  const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::string expected_id;
  {
    std::lock_guard lk(mu_);
    expected_id = log_id_;
  }
  std::vector<std::vector<std::string>> commands{
      {"EVAL", append_script, "3", key("seq"), key("log"), key("log_id"), expected_id, body,
       std::to_string(opts_.retained_updates), update.id.value_or(""),
       join_topics(log_topics(update)), std::to_string(at)}};
  auto timeout = opts_.timeout;
  if (opts_.min_replicas > 0) {
    // Sent with the script, so on its connection: WAIT counts that connection's writes.
    commands.push_back({"WAIT", std::to_string(opts_.min_replicas),
                        std::to_string(opts_.min_replicas_timeout.count())});
    timeout += opts_.min_replicas_timeout;
  }
  std::vector<redis::reply> replies;
  try {
    replies = commands_->pipeline(commands, timeout);
  } catch (const redis::redis_error& e) {
    throw update_log_error(fmt::format("Redis: {}", e.what()));
  }
  const auto& r = replies.front();
  if (r.type == redis::reply::kind::error) {
    if (std::string_view(r.str).substr(0, 10) == "PDL_LOG_ID") {
      logger()->critical("the update log in Redis was replaced (Redis lost its data?): this "
                         "replica refuses to publish until it is restarted");
      identity_lost_ = true;
    }
    throw update_log_error(fmt::format("Redis: {}", r.str.substr(0, 500)));
  }
  if (r.type != redis::reply::kind::integer || r.integer <= 0) {
    throw update_log_error("Redis answered the append with something else than a seq");
  }
  const auto seq = static_cast<std::uint64_t>(r.integer);
  if (opts_.min_replicas > 0) {
    const auto& w = replies.back();
    const long long acked = w.type == redis::reply::kind::integer ? w.integer : -1;
    if (acked < opts_.min_replicas) {
      throw update_log_error(
          fmt::format("seq {} is on the Redis primary but {} of {} replicas confirmed it within "
                      "{} ms{}",
                      seq, std::max(acked, 0LL), opts_.min_replicas,
                      opts_.min_replicas_timeout.count(),
                      w.type == redis::reply::kind::error ? " (WAIT: " + w.str.substr(0, 200) + ")"
                                                          : std::string()),
          0,
          fmt::format("the update reached the Redis primary but not {} replica(s) "
                      "(broadcast.min_replicas) within {} ms, so it is not acknowledged; it may "
                      "still be delivered: GET /data/updates/{} tells",
                      opts_.min_replicas, opts_.min_replicas_timeout.count(),
                      update.id.value_or("")));
    }
  }
  note_head(seq);
  return seq;
}

log_batch redis_update_log::read(std::uint64_t after_seq, std::uint64_t up_to,
                                 const std::set<std::string>& topics, std::size_t max_records,
                                 std::size_t max_bytes) const {
  log_batch out;
  out.scanned_to = after_seq;
  if (up_to <= after_seq) {
    return out;
  }
  const std::size_t count = std::max<std::size_t>(max_records, 1);
  redis::reply r;
  try {
    r = commands_->call({"XRANGE", key("log"), std::to_string(after_seq + 1), std::to_string(up_to),
                         "COUNT", std::to_string(count)});
  } catch (const redis::redis_error& e) {
    throw update_log_error(fmt::format("Redis: {}", e.what()));
  }
  std::size_t bytes = 0;
  bool cut_short = r.elements.size() >= count;
  for (const auto& entry : r.elements) {
    if (bytes >= max_bytes && !out.records.empty()) {
      cut_short = true;
      break;
    }
    log_record rec;
    try {
      rec = to_record(entry);
    } catch (const std::exception& e) {
      logger()->error("skipping a stream entry after seq {}: {}", out.scanned_to, e.what());
      continue;
    }
    out.scanned_to = rec.seq;
    if (!topics_match(rec.topics, topics)) {
      continue;
    }
    bytes += rec.json->size();
    out.records.push_back(std::move(rec));
  }
  if (!cut_short) {
    out.scanned_to = std::max(out.scanned_to, up_to);
  }
  return out;
}

std::vector<model::data_update> redis_update_log::since(std::uint64_t seq) const {
  return since_by_reading(seq, 1024, std::size_t{64} << 20);
}

std::uint64_t redis_update_log::head() const { return head_.load(); }

std::uint64_t redis_update_log::first_seq() const {
  try {
    auto r = commands_->call({"XRANGE", key("log"), "-", "+", "COUNT", "1"});
    if (r.elements.empty()) {
      return head() + 1;
    }
    return to_record(r.elements.front()).seq;
  } catch (const std::exception&) {
    return head() + 1;  // only informative (replay logs it); the read itself will fail loudly
  }
}

bool redis_update_log::healthy() const { return tail_ok_.load() && !identity_lost_.load(); }

std::string redis_update_log::fatal_error() const {
  return identity_lost_ ? "the update log in Redis was replaced (Redis lost its data?): "
                          "restart this server so its agents resynchronise"
                        : "";
}

void redis_update_log::start_tail(std::uint64_t after_seq, entry_handler on_entry,
                                  position_handler on_position) {
  on_entry_ = std::move(on_entry);
  on_position_ = std::move(on_position);
  tail_thread_ = std::thread([this, after_seq] { tail_loop(after_seq); });
}

void redis_update_log::replace_log_id(const std::string& expected, const std::string& why) {
  logger()->critical("the update log in Redis lost updates this replica had delivered ({}): "
                     "it gets a new log id; replicas refuse to publish and fail /healthy until "
                     "restarted, and agents then reload their data from scratch",
                     why);
  identity_lost_ = true;
  try {
    auto r = tail_->call({"EVAL", replace_id_script, "1", key("log_id"), expected,
                          auth::make_uuid4()});
    logger()->info("the update log in Redis now has log id {}", r.str);
  } catch (const redis::redis_error& e) {
    // The other replicas find the same rewind by themselves.
    logger()->error("could not give the update log a new id: {}", e.what());
  }
}

bool redis_update_log::still_continuous(tail_position& at) {
  const std::string at_text = std::to_string(at.seq);
  auto r = tail_->pipeline({{"GET", key("log_id")},
                            {"GET", key("seq")},
                            {"XRANGE", key("log"), at_text, at_text},
                            {"XRANGE", key("log"), "-", "+", "COUNT", "1"}});
  for (const auto& part : r) {
    if (part.type == redis::reply::kind::error) {
      throw redis::redis_error(part.str.substr(0, 500));
    }
  }
  std::string served;
  {
    std::lock_guard lk(mu_);
    served = log_id_;
  }
  if (r[0].type != redis::reply::kind::string || r[0].str != served) {
    if (!identity_lost_) {
      logger()->critical("the update log in Redis was replaced (Redis lost its data?): "
                         "this replica stops serving it until it is restarted");
    }
    identity_lost_ = true;
    return false;
  }
  if (at.seq == 0) {
    return true;
  }
  const std::uint64_t redis_seq =
      r[1].type == redis::reply::kind::string ? parse_seq(r[1].str) : 0;
  if (redis_seq < at.seq) {
    replace_log_id(served, fmt::format("its last seq is {}, this replica delivered up to {}",
                                       redis_seq, at.seq));
    return false;
  }
  if (!r[2].elements.empty()) {
    const auto rec = to_record(r[2].elements.front());
    if (at.id.empty()) {
      at.id = rec.id;  // where the tail started: learnt now, checked from now on
    } else if (rec.id != at.id) {
      replace_log_id(served, fmt::format("seq {} now holds another update", at.seq));
      return false;
    }
    return true;
  }
  const bool trimmed =
      !r[3].elements.empty() && to_record(r[3].elements.front()).seq > at.seq;
  if (!trimmed && !at.id.empty()) {
    replace_log_id(served, fmt::format("seq {} is no longer in the stream", at.seq));
    return false;
  }
  return true;
}

bool redis_update_log::replicated(std::uint64_t seq, int& acked) {
  auto r = tail_->pipeline({{"SET", key("fanout:") + instance_, std::to_string(seq), "PX", "60000"},
                            {"WAIT", std::to_string(opts_.min_replicas),
                             std::to_string(opts_.min_replicas_timeout.count())}},
                           opts_.timeout + opts_.min_replicas_timeout);
  if (r[0].type == redis::reply::kind::error) {
    throw redis::redis_error(r[0].str.substr(0, 500));
  }
  acked = r[1].type == redis::reply::kind::integer ? static_cast<int>(r[1].integer) : 0;
  return acked >= opts_.min_replicas;
}

void redis_update_log::tail_loop(std::uint64_t after_seq) {
  tail_position at{after_seq, {}};
  bool positioned = after_seq != 0;
  bool verify = true;  // the rewind check, before the first read and after every failure
  bool short_of_replicas = false;
  std::chrono::milliseconds backoff{100};
  std::string last_error;
  auto pause = [&] {
    std::unique_lock lk(stop_mu_);
    stop_cv_.wait_for(lk, backoff, [&] { return stopping_.load(); });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  };
  while (!stopping_) {
    if (identity_lost_) {
      tail_ok_ = false;  // this log is not ours any more: deliver nothing from it
      backoff = std::chrono::milliseconds(2000);
      pause();
      continue;
    }
    if (!ensure_identity()) {
      tail_ok_ = false;
      pause();
      continue;
    }
    if (!positioned) {
      // A fresh replica delivers what comes next; agents replay the rest.
      at = tail_position{identity_head_.load(), {}};
      positioned = true;
      if (on_position_) {
        on_position_(at.seq);
      }
    }
    try {
      if (!tail_ok_) {
        tail_->call({"PING"});  // ready at once, not after the first (blocking) XREAD
        tail_ok_ = true;
        logger()->info("tailing the update log in Redis from seq {}", at.seq);
      }
      if (verify) {
        if (!still_continuous(at)) {
          continue;
        }
        verify = false;
      }
      auto r = tail_->call({"XREAD", "COUNT", "512", "BLOCK", std::to_string(opts_.tail_block.count()),
                            "STREAMS", key("log"), std::to_string(at.seq) + "-0"},
                           opts_.tail_block + opts_.timeout);
      backoff = std::chrono::milliseconds(100);
      last_error.clear();
      if (r.type != redis::reply::kind::array || r.elements.empty()) {
        // Idle: check that the log is still the one we serve (Redis may have lost its data,
        // or a failover lost what we delivered).
        verify = true;
        continue;
      }
      // [[key, [entry, ...]]]
      const auto& stream = r.elements.front();
      if (stream.elements.size() != 2) {
        continue;
      }
      std::vector<log_record> batch;
      for (const auto& entry : stream.elements[1].elements) {
        try {
          auto rec = to_record(entry);
          if (rec.seq > at.seq && (batch.empty() || rec.seq > batch.back().seq)) {
            batch.push_back(std::move(rec));
          }
        } catch (const std::exception& e) {
          logger()->error("skipping a stream entry after seq {}: {}", at.seq, e.what());
        }
      }
      if (batch.empty()) {
        continue;
      }
      if (opts_.min_replicas > 0) {
        int acked = 0;
        if (!replicated(batch.back().seq, acked)) {
          if (!short_of_replicas) {
            logger()->warn("seqs {}..{} are on the Redis primary but {} of {} replicas confirmed "
                           "them: not delivered until enough do",
                           batch.front().seq, batch.back().seq, acked, opts_.min_replicas);
            short_of_replicas = true;
          }
          pause();
          continue;  // read again from the same place
        }
        if (short_of_replicas) {
          logger()->info("enough replicas confirmed seq {}: delivering again", batch.back().seq);
          short_of_replicas = false;
        }
      }
      for (auto& rec : batch) {
        model::data_update u;
        try {
          u = model::parse_data_update(*rec.json);
        } catch (const std::exception& e) {
          logger()->error("skipping seq {}: its stored update does not parse: {}", rec.seq,
                          e.what());
          at = tail_position{rec.seq, rec.id};
          continue;
        }
        u.seq = rec.seq;
        at = tail_position{rec.seq, rec.id};
        note_head(rec.seq);
        on_entry_(rec.seq, std::move(u));
      }
    } catch (const redis::redis_error& e) {
      tail_ok_ = false;
      verify = true;
      if (last_error != e.what()) {
        logger()->warn("tailing the update log in Redis: {}", e.what());
        last_error = e.what();
      }
      pause();
    } catch (const std::invalid_argument& e) {
      // A stream entry of the rewind check that does not parse: check again after a pause.
      logger()->error("checking the update log in Redis: {}", e.what());
      verify = true;
      pause();
    }
  }
}

}  // namespace pdl::server
