#include "server/redis_deliveries.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>

#include <fmt/format.h>

#include "server/delivery_merge.hpp"
#include "shared/log/log.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.deliveries");
  return l;
}

// One HSET per changed update and flush for up to 25,000 agents of this replica (~1.5 MB, a few
// ms of Redis): the commands an update costs do not grow with the agents (docs/scale.md).
constexpr std::size_t change_batch = 25000;     // taken from the tracker at a time
constexpr std::size_t fields_per_hset = 25000;  // field/value pairs per HSET
constexpr std::size_t max_deletes_per_flush = 1000;
constexpr std::size_t max_replicas = 1000;     // members of the replica set read
constexpr unsigned prune_every = 10;           // heartbeats between prunes of the set

std::optional<std::uint64_t> parse_seq(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 20) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

/** A warning at most every 10 s: a corrupt entry would otherwise be logged at every poll. */
bool warn_due() {
  static std::atomic<std::int64_t> last{0};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t prev = last.load();
  return now - prev >= 10 && last.compare_exchange_strong(prev, now);
}

}  // namespace

redis_deliveries::redis_deliveries(redis_deliveries_options options, delivery_tracker& tracker,
                                   std::function<std::uint64_t()> published_seq)
    : opts_(std::move(options)), tracker_(tracker), published_seq_(std::move(published_seq)) {
  redis::client_options o;
  o.where = opts_.where;
  o.timeout = opts_.timeout;
  o.max_reply_bytes = std::size_t{64} << 20;
  o.name = "deliveries";
  redis_ = std::make_unique<redis::client>(o);
}

redis_deliveries::~redis_deliveries() { stop(); }

std::string redis_deliveries::key_of(std::uint64_t seq) const {
  return fmt::format("{}:dlv:{}", opts_.key_prefix, seq);
}

std::string redis_deliveries::alive_key(const std::string& replica) const {
  return fmt::format("{}:dlv:alive:{}", opts_.key_prefix, replica);
}

void redis_deliveries::start() {
  tracker_.record_changes();
  thread_ = std::thread([this] { run(); });
}

void redis_deliveries::stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (!thread_.joinable()) {
    return;  // never started
  }
  thread_.join();
  try {
    write_changes();  // the last acknowledgements, best effort
    redis_->call({"DEL", alive_key(opts_.replica_id)});
    redis_->call({"SREM", opts_.key_prefix + ":dlv:replicas", opts_.replica_id});
  } catch (const redis::redis_error& e) {
    logger()->warn("delivery status: could not leave the replica set in Redis: {} (the other "
                   "replicas stop waiting for this one within {} ms)",
                   e.what(), opts_.alive_ttl.count());
  }
}

void redis_deliveries::run() {
  std::unique_lock lock(stop_mu_);
  bool first = true;  // the first flush at once: the heartbeat makes this replica known
  for (;;) {
    // After a failure, retry once a heartbeat interval rather than ten times as often.
    auto wait = first ? std::chrono::milliseconds(0)
                : failing_ ? opts_.heartbeat_interval
                           : opts_.flush_interval;
    first = false;
    if (stop_cv_.wait_for(lock, wait, [this] { return stopping_; })) {
      return;
    }
    lock.unlock();
    try {
      flush();
      if (failing_) {
        logger()->info("delivery status: sharing through Redis again");
      }
      failing_ = false;
    } catch (const redis::redis_error& e) {
      if (!failing_) {
        logger()->warn("delivery status: cannot share this replica's agents through Redis: {} "
                       "(the other replicas see them again once it answers)",
                       e.what());
      }
      failing_ = true;
    } catch (const std::exception& e) {
      logger()->error("delivery status: flush failed: {}", e.what());
      failing_ = true;
    }
    lock.lock();
  }
}

void redis_deliveries::flush() {
  // Sampled first: the agents' states of every seq up to the previous sample were recorded by
  // their sessions before this flush took the changes (their deliveries were posted to the
  // sessions' strands a whole interval ago), so once they are written the heartbeat can say so.
  const std::uint64_t published = published_seq_();
  write_changes();
  delete_evicted();
  const std::uint64_t through = sampled_seq_;
  const auto now = std::chrono::steady_clock::now();
  const bool interval_due = now - last_heartbeat_ >= opts_.heartbeat_interval;
  if (interval_due || through != through_written_) {
    redis_->call({"SET", alive_key(opts_.replica_id), std::to_string(through), "PX",
                  std::to_string(opts_.alive_ttl.count())});
    through_written_ = through;
    if (interval_due || heartbeats_ == 0) {
      last_heartbeat_ = now;
      // After the heartbeat key: a member without one is gone, never just arriving.
      redis_->call({"SADD", opts_.key_prefix + ":dlv:replicas", opts_.replica_id});
      if (++heartbeats_ % prune_every == 0) {
        auto members = redis_->call({"SMEMBERS", opts_.key_prefix + ":dlv:replicas"});
        std::vector<std::string> mget{"MGET"};
        std::vector<std::string> names;
        for (const auto& m : members.elements) {
          if (names.size() >= max_replicas) {
            break;
          }
          names.push_back(m.str);
          mget.push_back(alive_key(m.str));
        }
        if (!names.empty()) {
          auto alive = redis_->call(mget);
          std::vector<std::string> srem{"SREM", opts_.key_prefix + ":dlv:replicas"};
          for (std::size_t i = 0; i < names.size() && i < alive.elements.size(); ++i) {
            if (alive.elements[i].type == redis::reply::kind::nil) {
              srem.push_back(names[i]);
            }
          }
          if (srem.size() > 2) {
            redis_->call(srem);
          }
        }
      }
    }
  }
  sampled_seq_ = published;
}

void redis_deliveries::write_changes() {
  for (;;) {
    std::vector<delivery_tracker::change> changes = tracker_.take_changes(change_batch);
    if (changes.empty()) {
      return;
    }
    const std::size_t taken = changes.size();
    // Grouped by update, each group one HSET (or a few) and one PEXPIRE.
    std::stable_sort(changes.begin(), changes.end(),
                     [](const auto& a, const auto& b) { return a.seq < b.seq; });
    std::size_t written = 0;  // changes[0, written) are in Redis
    try {
      while (written < changes.size()) {
        const std::uint64_t seq = changes[written].seq;
        const std::string key = key_of(seq);
        std::size_t end = written;
        while (end < changes.size() && changes[end].seq == seq) {
          ++end;
        }
        for (std::size_t i = written; i < end;) {
          std::vector<std::string> hset{"HSET", key};
          for (std::size_t n = 0; n < fields_per_hset && i < end; ++n, ++i) {
            hset.push_back(encode_delivery_field(opts_.replica_id, changes[i].agent.agent));
            hset.push_back(encode_delivery_value(changes[i].agent));
          }
          redis_->call(hset);
        }
        redis_->call({"PEXPIRE", key, std::to_string(opts_.entry_ttl.count())});
        written = end;
      }
    } catch (...) {
      changes.erase(changes.begin(), changes.begin() + static_cast<std::ptrdiff_t>(written));
      tracker_.give_back(changes);
      throw;
    }
    if (taken < change_batch) {
      return;
    }
  }
}

void redis_deliveries::delete_evicted() {
  const std::uint64_t oldest = tracker_.oldest_seq();
  if (oldest == 0) {
    return;
  }
  if (deleted_below_ == 0) {
    // What left the window before this process started is the business of the replicas that
    // tracked it then, and of entry_ttl.
    deleted_below_ = oldest;
    return;
  }
  if (oldest <= deleted_below_) {
    return;
  }
  const std::uint64_t to = std::min<std::uint64_t>(oldest, deleted_below_ + max_deletes_per_flush);
  std::vector<std::string> unlink{"UNLINK"};
  for (std::uint64_t s = deleted_below_; s < to; ++s) {
    unlink.push_back(key_of(s));
  }
  redis_->call(unlink);
  deleted_below_ = to;
}

std::uint64_t redis_deliveries::log_head() {
  auto r = redis_->call({"GET", opts_.key_prefix + ":seq"});
  if (r.type == redis::reply::kind::nil) {
    return 0;
  }
  return parse_seq(r.str).value_or(0);
}

std::string redis_deliveries::status_json(const update_delivery& local) {
  // The heartbeats first, then the agents: a heartbeat's seq promises that what it covers was
  // written before it.
  live_replicas others;
  std::size_t corrupt = 0;
  {
    auto members = redis_->call({"SMEMBERS", opts_.key_prefix + ":dlv:replicas"});
    std::vector<std::string> names;
    std::vector<std::string> mget{"MGET"};
    for (const auto& m : members.elements) {
      if (names.size() >= max_replicas) {
        break;
      }
      if (m.str == opts_.replica_id) {
        continue;
      }
      if (!valid_replica_id(m.str)) {
        ++corrupt;
        continue;
      }
      names.push_back(m.str);
      mget.push_back(alive_key(m.str));
    }
    if (!names.empty()) {
      auto alive = redis_->call(mget);
      for (std::size_t i = 0; i < names.size() && i < alive.elements.size(); ++i) {
        const auto& a = alive.elements[i];
        if (a.type == redis::reply::kind::nil) {
          continue;  // gone
        }
        if (auto through = parse_seq(a.str)) {
          others.emplace(names[i], *through);
        } else {
          ++corrupt;
        }
      }
    }
  }

  std::vector<std::pair<std::string, std::string>> fields;
  const std::string key = key_of(local.seq);
  std::string cursor = "0";
  bool cut_short = false;
  do {
    auto r = redis_->call({"HSCAN", key, cursor, "COUNT", "1000"});
    if (r.type != redis::reply::kind::array || r.elements.size() != 2 ||
        r.elements[1].type != redis::reply::kind::array) {
      throw redis::redis_error("unexpected HSCAN reply");
    }
    cursor = r.elements[0].str;
    auto& items = r.elements[1].elements;
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
      fields.emplace_back(std::move(items[i].str), std::move(items[i + 1].str));
    }
    if (fields.size() >= opts_.max_fields_read) {
      cut_short = true;
      break;
    }
  } while (cursor != "0");
  // HSCAN may return a field twice while the hash grows: keep one.
  std::sort(fields.begin(), fields.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  fields.erase(std::unique(fields.begin(), fields.end(),
                           [](const auto& a, const auto& b) { return a.first == b.first; }),
               fields.end());

  merged_delivery m = merge_deliveries(local, opts_.replica_id, fields, others);
  corrupt += m.ignored_fields;
  if ((corrupt > 0 || cut_short) && warn_due()) {
    logger()->warn("delivery status of seq {}: {} malformed entries in Redis ignored{}",
                   local.seq, corrupt,
                   cut_short ? fmt::format(", only the first {} agents read",
                                           opts_.max_fields_read)
                             : "");
  }
  return status_document(m.update, m.complete, &m.coverage);
}

}  // namespace pdl::server
