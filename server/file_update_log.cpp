#include "server/file_update_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>
#include <unordered_map>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/log/log.hpp"
#include "shared/model/paths.hpp"

namespace pdl::server {
namespace {

std::string read_small_file(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return out;
  }
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n > 0) {
    out.assign(buf, static_cast<std::size_t>(n));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

/** Write to <path>.tmp, fsync, rename, fsync the directory. @throws update_log_error. */
void write_small_file_durably(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw update_log_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  const std::string line = text + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    throw update_log_error("cannot write " + path + ": " + std::strerror(ok ? errno : err));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace fs = std::filesystem;
using config::fsync_policy;

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.store");
  return l;
}

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

// A read() never holds the lock for more than this many index entries.
constexpr std::size_t max_scan_per_read = 65536;

}  // namespace

file_update_log::index_entry file_update_log::describe(const model::data_update& u) {
  index_entry e;
  e.id = u.id.value_or("");
  for (const auto& entry : u.entries) {
    entry_key k;
    k.topics = entry.topics;
    try {
      k.path = model::normalize_dst_path(entry.dst_path);
    } catch (const model::invalid_input&) {
      k.path = entry.dst_path;  // validated before it was logged; keep something comparable
    }
    k.put = entry.method == model::save_method::put;
    for (const auto& t : entry.topics) {
      if (std::find(e.topics.begin(), e.topics.end(), t) == e.topics.end()) {
        e.topics.push_back(t);
      }
    }
    e.keys.push_back(std::move(k));
  }
  return e;
}

file_update_log::file_update_log(file_log_options opts) : opts_(std::move(opts)) {
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  if (ec) {
    throw update_log_error("cannot create the data directory " + opts_.dir + ": " + ec.message());
  }
  std::string lock_path = opts_.dir + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    throw update_log_error("cannot open " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    throw update_log_error("the data directory " + opts_.dir +
                           " is in use by another opal-server process");
  }
  try {
    open_existing();
  } catch (...) {
    ::close(lock_fd_);
    throw;
  }
  if (opts_.background) {
    bg_ = std::thread([this] { background_loop(); });
  }
}

file_update_log::~file_update_log() {
  {
    std::lock_guard lock(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_.joinable()) {
    bg_.join();
  }
  if (opts_.fsync != fsync_policy::never) {
    std::lock_guard lock(mu_);
    if (!segments_.empty()) {
      if (int err = segments_.back()->sync()) {
        logger()->error("update log: final sync failed: {}", std::strerror(err));
      }
    }
  }
  ::close(lock_fd_);
}

void file_update_log::open_existing() {
  static const std::regex name_re(R"(\d{20}\.seg)");
  std::vector<std::string> names;
  for (const auto& de : fs::directory_iterator(opts_.dir)) {
    std::string name = de.path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      fs::remove(de.path());  // an interrupted compaction: the originals are still there
    } else if (std::regex_match(name, name_re)) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  std::uint64_t max_seq = 0;
  for (const auto& name : names) {
    auto seg = log_segment::open(opts_.dir + "/" + name);
    std::uint64_t end = seg->scan([&](scanned_record&& r) {
      if (r.seq <= max_seq) {
        // Left by a compaction interrupted between its rename and its deletions.
        ++report_.duplicates;
        return;
      }
      model::data_update u;
      try {
        u = model::parse_data_update(r.payload);
      } catch (const model::invalid_input& e) {
        logger()->error("update log: record {} in {} is unreadable ({}): skipped", r.seq, name,
                        e.what());
        return;
      }
      index_entry e = describe(u);
      e.seq = r.seq;
      e.seg = seg;
      e.offset = r.offset;
      e.size = r.size;
      e.accepted_ms = r.accepted_ms;
      total_bytes_ += r.size;
      max_seq = r.seq;
      index_.push_back(std::move(e));
    });
    if (end < seg->size()) {
      report_.cut_bytes += seg->size() - end;
      logger()->warn("update log: {} ends with {} torn or damaged bytes: cut", name,
                     seg->size() - end);
      seg->truncate(end);
      if (int err = seg->sync()) {
        throw update_log_error("cannot sync " + seg->path() + ": " + std::strerror(err));
      }
    }
    segments_.push_back(std::move(seg));
  }
  report_.records = index_.size();
  report_.segments = segments_.size();
  head_ = max_seq;
  synced_seq_ = head_;
  if (segments_.empty()) {
    segments_.push_back(new_segment(head_ + 1));
  }
  recompute_first_seq();
  adopt_log_id();
}

void file_update_log::adopt_log_id() {
  // An empty log starts its seqs at 1 again, so it may not reuse an id saved beside segments
  // that are gone: agents would take seqs 1..N of the new log as already applied.
  const std::string path = opts_.dir + "/LOG_ID";
  if (head_ > 0) {
    std::error_code ec;
    if (fs::exists(path, ec)) {
      std::string id = read_small_file(path);
      if (id.size() == 36) {
        set_log_id(std::move(id));
        return;
      }
      logger()->warn("update log: {} is damaged: a new log id is written", path);
    }
  }
  write_small_file_durably(path, log_id());
}

std::shared_ptr<log_segment> file_update_log::new_segment(std::uint64_t first_seq) {
  std::string path = fmt::format("{}/{:020}.seg", opts_.dir, first_seq);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    // Only an empty segment can carry the next seq's name (its records were cut): reuse it.
    auto seg = log_segment::open(path);
    seg->truncate(0);
    return seg;
  }
  auto seg = log_segment::create(path, opts_.fsync != fsync_policy::never);
  if (opts_.fsync != fsync_policy::never) {
    sync_directory(opts_.dir);
  }
  return seg;
}

void file_update_log::roll(std::unique_lock<std::mutex>&) {
  if (opts_.fsync != fsync_policy::never) {
    if (int err = segments_.back()->sync()) {
      if (opts_.fsync == fsync_policy::always) {
        lose_unsynced(err);
        throw update_log_error(std::string("cannot sync the update log: ") + std::strerror(err));
      }
      logger()->error("update log: sync of {} failed: {}", segments_.back()->path(),
                      std::strerror(err));
    } else {
      synced_seq_ = head_;
    }
  }
  segments_.push_back(new_segment(head_ + 1));
}

std::uint64_t file_update_log::append(const model::data_update& update) {
  const auto now = opts_.now();
  std::string body;
  if (update.seq) {
    model::data_update copy = update;
    copy.seq.reset();
    body = model::to_json(copy);
  } else {
    body = model::to_json(update);
  }
  body.pop_back();  // the closing brace: "seq" goes last, as model::to_json puts it
  index_entry e = describe(update);

  std::unique_lock lk(mu_);
  if (broken_) {
    throw update_log_error("the update log is unusable after a failed write (restart needed)");
  }
  std::uint64_t seq = head_ + 1;
  body += fmt::format(",\"seq\":{}}}", seq);
  std::string rec = encode_record(seq, to_ms(now), body);
  body.clear();
  auto& active = segments_.back();
  if (active->size() > segment_header_bytes &&
      active->size() + rec.size() > opts_.segment_bytes) {
    roll(lk);
  }
  e.seq = seq;
  e.seg = segments_.back();
  e.offset = e.seg->append(rec);  // throws with nothing assigned
  e.size = static_cast<std::uint32_t>(rec.size());
  e.accepted_ms = to_ms(now);
  index_.push_back(std::move(e));
  head_ = seq;
  total_bytes_ += rec.size();
  bool over = total_bytes_ > opts_.retention_bytes;
  if (opts_.fsync == fsync_policy::always) {
    wait_durable(lk, seq);
  }
  lk.unlock();
  if (over) {
    {
      std::lock_guard lock(bg_mu_);
      bg_wanted_ = true;
    }
    bg_cv_.notify_all();
  }
  return seq;
}

bool file_update_log::is_lost(std::uint64_t seq) const {
  return std::any_of(lost_.begin(), lost_.end(),
                     [&](const auto& r) { return seq > r.first && seq <= r.second; });
}

void file_update_log::wait_durable(std::unique_lock<std::mutex>& lk, std::uint64_t seq) {
  for (;;) {
    if (is_lost(seq)) {
      throw update_log_error("the update could not be synced to disk", seq);
    }
    if (synced_seq_ >= seq) {
      return;
    }
    if (syncing_) {
      synced_cv_.wait(lk);
      continue;
    }
    // This caller syncs for everyone who wrote before it (group commit).
    syncing_ = true;
    auto seg = segments_.back();
    std::uint64_t target = head_;
    lk.unlock();
    int err = seg->sync();
    lk.lock();
    syncing_ = false;
    if (err == 0) {
      synced_seq_ = std::max(synced_seq_, target);
    } else {
      lose_unsynced(err);
    }
    synced_cv_.notify_all();
  }
}

void file_update_log::lose_unsynced(int err) {
  logger()->error("update log: sync failed ({}): updates {}..{} are refused", std::strerror(err),
                  synced_seq_ + 1, head_);
  if (head_ > synced_seq_) {
    lost_.emplace_back(synced_seq_, head_);
    if (lost_.size() > 64) {
      lost_.erase(lost_.begin());
    }
  }
  std::map<log_segment*, std::pair<std::shared_ptr<log_segment>, std::uint64_t>> cuts;
  while (!index_.empty() && index_.back().seq > synced_seq_) {
    auto& e = index_.back();
    cuts[e.seg.get()] = {e.seg, e.offset};
    total_bytes_ -= e.size;
    index_.pop_back();
  }
  try {
    for (auto& [raw, cut] : cuts) {
      cut.first->truncate(cut.second);
      if (int e2 = cut.first->sync()) {
        throw update_log_error(std::string("sync after cut failed: ") + std::strerror(e2));
      }
    }
  } catch (const update_log_error& e) {
    broken_ = true;
    logger()->critical("update log: cannot cut the unsynced records ({}): refusing updates "
                       "until restart", e.what());
  }
  // Their seqs stay burned until restart, so no seq is ever handed out twice in a run.
  synced_seq_ = head_;
}

void file_update_log::recompute_first_seq() {
  if (index_.empty()) {
    first_seq_ = head_ + 1;
    return;
  }
  std::size_t i = index_.size() - 1;
  while (i > 0 && index_[i - 1].seq + 1 == index_[i].seq) {
    --i;
  }
  first_seq_ = index_[i].seq;
}

std::size_t file_update_log::index_from(std::uint64_t after_seq) const {
  auto it = std::upper_bound(index_.begin(), index_.end(), after_seq,
                             [](std::uint64_t s, const index_entry& e) { return s < e.seq; });
  return static_cast<std::size_t>(it - index_.begin());
}

log_batch file_update_log::read(std::uint64_t after_seq, std::uint64_t up_to,
                                const std::set<std::string>& topics, std::size_t max_records,
                                std::size_t max_bytes) const {
  struct ref {
    std::shared_ptr<log_segment> seg;
    log_record rec;
    std::uint64_t offset;
    std::uint32_t size;
  };
  std::vector<ref> refs;
  log_batch out;
  out.scanned_to = after_seq;
  {
    std::lock_guard lock(mu_);
    up_to = std::min(up_to, head_);
    std::size_t bytes = 0;
    std::size_t looked = 0;
    bool cut_short = false;
    for (std::size_t i = index_from(after_seq); i < index_.size(); ++i) {
      const index_entry& e = index_[i];
      if (e.seq > up_to) {
        break;
      }
      if (refs.size() >= std::max<std::size_t>(max_records, 1) ||
          (bytes >= max_bytes && !refs.empty()) || ++looked > max_scan_per_read) {
        cut_short = true;
        break;
      }
      out.scanned_to = e.seq;
      if (!topics_match(e.topics, topics)) {
        continue;
      }
      log_record r;
      r.seq = e.seq;
      r.id = e.id;
      r.topics = e.topics;
      r.accepted_at = from_ms(e.accepted_ms);
      refs.push_back(ref{e.seg, std::move(r), e.offset, e.size});
      bytes += e.size;
    }
    if (!cut_short) {
      out.scanned_to = std::max(out.scanned_to, up_to);
    }
  }
  out.records.reserve(refs.size());
  for (auto& r : refs) {
    try {
      r.rec.json = std::make_shared<const std::string>(r.seg->read(r.offset, r.size, r.rec.seq));
    } catch (const update_log_error& e) {
      logger()->error("update log: {}: skipped in replay", e.what());
      continue;
    }
    out.records.push_back(std::move(r.rec));
  }
  return out;
}

std::vector<model::data_update> file_update_log::since(std::uint64_t seq) const {
  return since_by_reading(seq, std::numeric_limits<std::size_t>::max(),
                          std::numeric_limits<std::size_t>::max());
}

std::uint64_t file_update_log::head() const {
  std::lock_guard lock(mu_);
  return head_;
}

std::uint64_t file_update_log::first_seq() const {
  std::lock_guard lock(mu_);
  return first_seq_;
}

std::size_t file_update_log::record_count() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

std::uint64_t file_update_log::retained_bytes() const {
  std::lock_guard lock(mu_);
  return total_bytes_;
}

std::size_t file_update_log::segment_count() const {
  std::lock_guard lock(mu_);
  return segments_.size();
}

std::size_t file_update_log::maintain() {
  std::lock_guard maintain_lock(maintain_mu_);
  struct survivor {
    std::uint64_t seq;
    std::shared_ptr<log_segment> seg;
    std::uint64_t offset;
    std::uint32_t size;
    std::int64_t accepted_ms;
  };
  std::vector<survivor> survivors;
  std::vector<std::shared_ptr<log_segment>> selected;
  std::uint64_t last_dropped = 0;
  std::size_t dropped = 0;
  {
    std::unique_lock lk(mu_);
    if (index_.empty() || broken_) {
      return 0;
    }
    // Records up to `cutoff` are history that retention no longer keeps in full.
    std::uint64_t cutoff = 0;
    const std::int64_t too_old = to_ms(opts_.now() - opts_.retention_age);
    for (const auto& e : index_) {
      if (e.accepted_ms >= too_old) {
        break;
      }
      cutoff = e.seq;
    }
    if (total_bytes_ > opts_.retention_bytes) {
      std::uint64_t kept = 0;
      for (auto it = index_.rbegin(); it != index_.rend(); ++it) {
        kept += it->size;
        if (kept > opts_.retention_bytes) {
          cutoff = std::max(cutoff, it->seq);
          break;
        }
      }
    }
    if (cutoff == 0) {
      return 0;
    }
    std::vector<const std::vector<entry_key>*> keys;
    keys.reserve(index_.size());
    for (const auto& e : index_) {
      keys.push_back(&e.keys);
    }
    std::vector<bool> needed = needed_updates(keys);
    const log_segment* last_seg = nullptr;
    for (std::size_t i = 0; i < index_.size() && index_[i].seq <= cutoff; ++i) {
      if (!needed[i]) {
        last_seg = index_[i].seg.get();
        last_dropped = index_[i].seq;
      }
    }
    if (last_seg == nullptr) {
      if (total_bytes_ > opts_.retention_bytes) {
        logger()->warn("update log: the current state ({} bytes) exceeds "
                       "update_log.retention_bytes ({}): nothing can be compacted, keeping it",
                       total_bytes_, opts_.retention_bytes);
      }
      return 0;
    }
    if (last_seg == segments_.back().get()) {
      try {
        roll(lk);
      } catch (const update_log_error& e) {
        logger()->error("update log: compaction skipped: {}", e.what());
        return 0;
      }
    }
    for (auto& s : segments_) {
      selected.push_back(s);
      if (s.get() == last_seg) {
        break;
      }
    }
    std::size_t i = 0;
    for (const auto& s : selected) {
      for (; i < index_.size() && index_[i].seg == s; ++i) {
        const auto& e = index_[i];
        if (needed[i] || e.seq > cutoff) {
          survivors.push_back({e.seq, e.seg, e.offset, e.size, e.accepted_ms});
        } else {
          ++dropped;
        }
      }
    }
  }

  // Copy the survivors without holding the lock: appends only touch the active segment, which
  // is never selected.
  std::string tmp_path = opts_.dir + "/compact.tmp";
  std::unordered_map<std::uint64_t, std::uint64_t> new_offset;
  std::shared_ptr<log_segment> out;
  try {
    std::error_code ec;
    fs::remove(tmp_path, ec);
    out = log_segment::create(tmp_path, false);
    for (const auto& s : survivors) {
      std::string payload = s.seg->read(s.offset, s.size, s.seq);
      new_offset[s.seq] = out->append(encode_record(s.seq, s.accepted_ms, payload));
    }
    if (opts_.fsync != fsync_policy::never) {
      if (int err = out->sync()) {
        throw update_log_error(std::string("cannot sync the compacted segment: ") +
                               std::strerror(err));
      }
    }
    // Atomic replace of the first selected segment; a crash before the others are removed
    // leaves duplicates that opening skips.
    out->rename_to(selected.front()->path());
    if (opts_.fsync != fsync_policy::never) {
      sync_directory(opts_.dir);
    }
  } catch (const update_log_error& e) {
    logger()->error("update log: compaction failed: {}", e.what());
    std::error_code ec;
    fs::remove(tmp_path, ec);
    return 0;
  }

  std::lock_guard lock(mu_);
  std::deque<index_entry> kept;
  for (auto& e : index_) {
    bool in_selected = std::any_of(selected.begin(), selected.end(),
                                   [&](const auto& s) { return s == e.seg; });
    if (!in_selected) {
      kept.push_back(std::move(e));
      continue;
    }
    auto it = new_offset.find(e.seq);
    if (it != new_offset.end()) {
      e.seg = out;
      e.offset = it->second;
      kept.push_back(std::move(e));
    }
  }
  index_ = std::move(kept);
  for (std::size_t k = 1; k < selected.size(); ++k) {
    selected[k]->unlink();
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<long>(selected.size()));
  segments_.insert(segments_.begin(), out);
  if (opts_.fsync != fsync_policy::never) {
    sync_directory(opts_.dir);
  }
  total_bytes_ = 0;
  for (const auto& e : index_) {
    total_bytes_ += e.size;
  }
  first_seq_ = std::max(first_seq_, last_dropped + 1);
  logger()->info("update log: compacted {} segment(s): {} superseded updates dropped, {} kept; "
                 "complete history from seq {}",
                 selected.size(), dropped, survivors.size(), first_seq_);
  return dropped;
}

void file_update_log::background_loop() {
  using namespace std::chrono_literals;
  const auto tick = opts_.fsync == fsync_policy::interval
                        ? std::min<std::chrono::milliseconds>(opts_.fsync_interval, 1000ms)
                        : std::chrono::milliseconds(1000ms);
  const auto age_every = std::clamp<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(opts_.retention_age) / 10, 1000ms,
      60000ms);
  auto last_sync = std::chrono::steady_clock::now();
  auto last_maintain = last_sync;
  for (;;) {
    bool wanted = false;
    {
      std::unique_lock lock(bg_mu_);
      bg_cv_.wait_for(lock, tick, [&] { return bg_stop_ || bg_wanted_; });
      if (bg_stop_) {
        return;
      }
      wanted = bg_wanted_;
    }
    auto now = std::chrono::steady_clock::now();
    if (opts_.fsync == fsync_policy::interval && now - last_sync >= opts_.fsync_interval) {
      last_sync = now;
      std::shared_ptr<log_segment> active;
      {
        std::lock_guard lock(mu_);
        active = segments_.back();
      }
      if (int err = active->sync()) {
        logger()->error("update log: periodic sync failed: {}", std::strerror(err));
      }
    }
    // At most one compaction a second, even when every append asks for one.
    if ((wanted && now - last_maintain >= 1000ms) || now - last_maintain >= age_every) {
      last_maintain = now;
      {
        std::lock_guard lock(bg_mu_);
        bg_wanted_ = false;
      }
      try {
        maintain();
      } catch (const std::exception& e) {
        logger()->error("update log: retention failed: {}", e.what());
      }
    } else if (wanted) {
      std::unique_lock lock(bg_mu_);
      bg_cv_.wait_for(lock, 1000ms - (now - last_maintain), [&] { return bg_stop_; });
    }
  }
}

}  // namespace pdl::server
