#include "server/blobs/retention.hpp"

#include "shared/log/log.hpp"

namespace pdl::server::blobs {

void collect_blob_refs(std::string_view update_json, std::set<std::string>& out) {
  static constexpr std::string_view marker = R"("blob":{"sha256":")";
  std::size_t at = 0;
  while ((at = update_json.find(marker, at)) != std::string_view::npos) {
    at += marker.size();
    const std::string_view hex = update_json.substr(at, 64);
    if (model::is_sha256_hex(hex)) {
      out.emplace(hex);
    }
  }
}

std::set<std::string> referenced_blobs(const update_log& log) {
  std::set<std::string> keep;
  const std::uint64_t head = log.head();
  std::uint64_t cursor = 0;
  while (cursor < head) {
    auto batch = log.read(cursor, head, {}, 4096, 16u * 1024 * 1024);
    for (const auto& r : batch.records) {
      if (r.json) {
        collect_blob_refs(*r.json, keep);
      }
    }
    if (batch.scanned_to <= cursor) {
      break;
    }
    cursor = batch.scanned_to;
  }
  return keep;
}

retention_result run_retention(const update_log& log, blob_store& store, redis_blobs* shared,
                               std::chrono::seconds grace, const std::set<std::string>& also_keep) {
  retention_result r;
  auto keep = referenced_blobs(log);
  keep.insert(also_keep.begin(), also_keep.end());
  r.referenced = keep.size();
  r.freed_bytes = store.retain(keep, std::filesystem::file_time_type::clock::now() - grace);
  if (shared != nullptr) {
    r.removed_shared = shared->retain(keep, std::chrono::system_clock::now() - grace);
  }
  return r;
}

periodic_retention::periodic_retention(const update_log& log, blob_store& store,
                                       redis_blobs* shared, std::chrono::seconds interval,
                                       std::chrono::seconds grace,
                                       std::function<std::set<std::string>()> also_keep)
    : log_(log),
      store_(store),
      shared_(shared),
      interval_(interval),
      grace_(grace),
      also_keep_(std::move(also_keep)) {
  thread_ = std::thread([this] { loop(); });
}

periodic_retention::~periodic_retention() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void periodic_retention::loop() {
  auto logger = log::get("server.blobs");
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    try {
      if (store_.count() > 0 || shared_ != nullptr) {
        const auto r = run_retention(log_, store_, shared_, grace_,
                                     also_keep_ ? also_keep_() : std::set<std::string>{});
        freed_ += r.freed_bytes;
        if (r.freed_bytes > 0 || r.removed_shared > 0) {
          logger->info("blob retention: {} blobs referred to by the log; {} bytes freed here, {} "
                       "blobs removed from Redis",
                       r.referenced, r.freed_bytes, r.removed_shared);
        }
      }
    } catch (const std::exception& e) {
      logger->warn("blob retention pass failed (next in {} s): {}", interval_.count(), e.what());
    }
    ++passes_;
    lock.lock();
  }
}

}  // namespace pdl::server::blobs
