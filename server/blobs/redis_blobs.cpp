#include "server/blobs/redis_blobs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "shared/log/log.hpp"

namespace pdl::server::blobs {
namespace {

constexpr std::size_t chunk_bytes = 1 << 20;

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.blobs");
  return l;
}

struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

// KEYS: the temporary key, the blob's key. ARGV: the bytes copied. Renamed only when whole: the
// chunks of a copy interrupted by a failover may be partly on the new primary.
constexpr const char* commit_script = R"lua(
if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[1]) then
  return redis.error_reply(
    'PDL_BLOB_SHORT the copy in Redis is incomplete (a failover during the copy?)')
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('PERSIST', KEYS[2])
return 1
)lua";

std::string temp_suffix() {
  static std::atomic<std::uint64_t> n{0};
  return fmt::format(":part:{}-{}", ::getpid(), n.fetch_add(1));
}

}  // namespace

redis_blobs::redis_blobs(redis::endpoint where, std::string key_prefix,
                         std::chrono::milliseconds timeout, int min_replicas,
                         std::chrono::milliseconds min_replicas_timeout)
    : prefix_(std::move(key_prefix)),
      min_replicas_(min_replicas),
      min_replicas_timeout_(min_replicas_timeout),
      timeout_(timeout) {
  redis::client_options o;
  o.where = std::move(where);
  o.timeout = timeout;
  o.max_reply_bytes = chunk_bytes + 4096;
  o.name = "blobs";
  client_ = std::make_unique<redis::client>(o);
}

std::string redis_blobs::key_of(std::string_view sha256) const {
  return fmt::format("{}:blob:{}", prefix_, sha256);
}

void redis_blobs::put(const model::blob_ref& ref, const std::filesystem::path& file) {
  const std::string key = key_of(ref.sha256);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  // Put time first: retention (retain) never takes a blob put within its grace period.
  std::vector<std::vector<std::string>> first{
      {"ZADD", prefix_ + ":blobs", std::to_string(now), ref.sha256}, {"STRLEN", key}};
  if (min_replicas_ > 0) {
    first.push_back(wait_command());  // covers the ZADD, after the blob's own earlier writes
  }
  const auto budget =
      timeout_ + (min_replicas_ > 0 ? min_replicas_timeout_ : std::chrono::milliseconds(0));
  const auto r = client_->pipeline(first, budget);
  for (const auto& part : r) {
    if (part.type == redis::reply::kind::error) {
      throw redis::redis_error(part.str.substr(0, 500));
    }
  }
  const auto& have = r[1];
  if (have.type == redis::reply::kind::integer &&
      static_cast<std::uint64_t>(have.integer) == ref.size && ref.size > 0) {
    if (min_replicas_ > 0) {
      check_replicated(r[2], ref.sha256);
    }
    return;  // the same bytes (named by their hash) are there already
  }
  fd_closer in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) {
    throw blob_error(fmt::format("cannot read blob {}: {}", ref.sha256.substr(0, 12),
                                 std::strerror(errno)));
  }
  const std::string temp = key + temp_suffix();
  client_->call({"DEL", temp});
  std::string buf(chunk_bytes, '\0');
  std::uint64_t copied = 0;
  for (;;) {
    ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      client_->call({"DEL", temp});
      throw blob_error(fmt::format("cannot read blob {}: {}", ref.sha256.substr(0, 12),
                                   std::strerror(errno)));
    }
    if (n == 0) {
      break;
    }
    client_->call({"APPEND", temp, buf.substr(0, static_cast<std::size_t>(n))});
    if (copied == 0) {
      client_->call({"EXPIRE", temp, "600"});  // a copy cut short by a crash goes by itself
    }
    copied += static_cast<std::uint64_t>(n);
  }
  if (copied == 0) {
    // APPEND never ran; an empty document is not valid JSON, so this is a broken file.
    throw blob_error(fmt::format("blob {} is empty", ref.sha256.substr(0, 12)));
  }
  std::vector<std::vector<std::string>> commit{
      {"EVAL", commit_script, "2", temp, key, std::to_string(copied)}};
  if (min_replicas_ > 0) {
    commit.push_back(wait_command());
  }
  const auto done = client_->pipeline(commit, budget);
  if (done[0].type == redis::reply::kind::error) {
    throw redis::redis_error(done[0].str.substr(0, 500));
  }
  if (min_replicas_ > 0) {
    check_replicated(done[1], ref.sha256);
  }
}

std::vector<std::string> redis_blobs::wait_command() const {
  return {"WAIT", std::to_string(min_replicas_), std::to_string(min_replicas_timeout_.count())};
}

void redis_blobs::check_replicated(const redis::reply& wait, std::string_view sha256) const {
  const long long acked = wait.type == redis::reply::kind::integer ? wait.integer : 0;
  if (acked < min_replicas_) {
    throw redis::redis_error(fmt::format(
        "blob {} is on the Redis primary but {} of {} replicas (broadcast.min_replicas) "
        "confirmed it within {} ms",
        sha256.substr(0, 12), acked, min_replicas_, min_replicas_timeout_.count()));
  }
}

bool redis_blobs::fetch_into(blob_store& store, std::string_view sha256,
                             std::uint64_t max_blob_bytes) {
  std::shared_ptr<std::mutex> flight;
  {
    std::lock_guard lock(flights_mu_);
    auto& f = flights_[std::string(sha256)];
    if (!f) {
      f = std::make_shared<std::mutex>();
    }
    flight = f;
  }
  std::lock_guard one_at_a_time(*flight);
  struct forget {
    redis_blobs& self;
    std::string sha;
    ~forget() {
      std::lock_guard lock(self.flights_mu_);
      auto it = self.flights_.find(sha);
      if (it != self.flights_.end() && it->second.use_count() <= 2) {
        self.flights_.erase(it);
      }
    }
  } cleanup{*this, std::string(sha256)};
  if (store.find(sha256)) {
    return true;  // the caller before us copied it
  }
  const std::string key = key_of(sha256);
  const auto len = client_->call({"STRLEN", key});
  if (len.type != redis::reply::kind::integer || len.integer <= 0) {
    return false;
  }
  const auto size = static_cast<std::uint64_t>(len.integer);
  blob_store::writer w(store, max_blob_bytes);
  for (std::uint64_t at = 0; at < size; at += chunk_bytes) {
    const std::uint64_t last = std::min<std::uint64_t>(at + chunk_bytes, size) - 1;
    const auto part =
        client_->call({"GETRANGE", key, std::to_string(at), std::to_string(last)});
    if (part.type != redis::reply::kind::string || part.str.size() != last - at + 1) {
      throw blob_error(fmt::format("blob {} changed in Redis while it was copied",
                                   sha256.substr(0, 12)));
    }
    w.write(part.str);
  }
  const auto ref = w.commit();
  if (ref.sha256 != sha256) {
    // commit() moved it into place under its real name: that blob is whole and harmless, but it
    // is not the one asked for.
    logger()->error("blob {} in Redis hashes to {}: not served", sha256.substr(0, 12),
                    ref.sha256.substr(0, 12));
    throw blob_error(fmt::format("blob {} in Redis does not match its name", sha256.substr(0, 12)));
  }
  logger()->info("blob {} ({} bytes) copied from Redis", sha256, size);
  return true;
}

bool redis_blobs::try_lead(const std::string& name, std::chrono::milliseconds hold) {
  const auto r = client_->call({"SET", prefix_ + ":refresh:" + name, std::to_string(::getpid()),
                                "NX", "PX", std::to_string(std::max<long long>(1, hold.count()))});
  return r.type == redis::reply::kind::status;  // "OK"; nil when another holds it
}

std::optional<model::blob_ref> redis_blobs::current(const std::string& name) {
  const auto r = client_->call({"GET", prefix_ + ":base:" + name});
  if (r.type != redis::reply::kind::string) {
    return std::nullopt;
  }
  const auto colon = r.str.find(':');
  if (colon != 64) {
    return std::nullopt;
  }
  model::blob_ref ref;
  ref.sha256 = r.str.substr(0, 64);
  try {
    ref.size = std::stoull(r.str.substr(65));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return ref;
}

void redis_blobs::set_current(const std::string& name, const model::blob_ref& ref) {
  client_->call({"SET", prefix_ + ":base:" + name, fmt::format("{}:{}", ref.sha256, ref.size)});
}

std::size_t redis_blobs::retain(const std::set<std::string>& keep,
                                std::chrono::system_clock::time_point put_before) {
  const std::string index = prefix_ + ":blobs";
  const auto cutoff = std::chrono::duration_cast<std::chrono::seconds>(
                          put_before.time_since_epoch())
                          .count();
  const auto old = client_->call({"ZRANGEBYSCORE", index, "-inf", std::to_string(cutoff)});
  std::size_t removed = 0;
  for (const auto& member : old.elements) {
    if (keep.count(member.str) == 0) {
      removed += static_cast<std::size_t>(client_->call({"DEL", key_of(member.str)}).integer);
      client_->call({"ZREM", index, member.str});
    }
  }
  return removed;
}

}  // namespace pdl::server::blobs
