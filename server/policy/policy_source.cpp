#include "server/policy/policy_source.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/log/log.hpp"

namespace pdl::server::policy {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.policy");
  return l;
}

std::string detail_body(std::string_view message) {
  return nlohmann::json{{"detail", message}}.dump(-1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace);
}

constexpr std::uint32_t watch_mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                     IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                                     IN_MOVE_SELF;

/** An inotify instance watching @p dirs of @p root; -1 when inotify is unavailable (the
 *  periodic rescan still works). */
int watch(const std::string& root, const std::set<std::string>& dirs) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  (void)::inotify_add_watch(fd, root.c_str(), watch_mask);
  for (const auto& d : dirs) {
    if (d == ".") {
      continue;
    }
    const std::string path = root + "/" + d;
    // A folder that vanished meanwhile is seen by the rescan; a full watch table
    // (fs.inotify.max_user_watches) leaves the periodic rescan.
    (void)::inotify_add_watch(fd, path.c_str(), watch_mask);
  }
  return fd;
}

void drain(int fd) {
  alignas(inotify_event) char buf[16 * 1024];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
}

}  // namespace

policy_source::policy_source(source_options opts) : opts_(std::move(opts)) {}

policy_source::~policy_source() { stop(); }

void policy_source::start(change_handler on_change) {
  if (!enabled()) {
    return;
  }
  on_change_ = std::move(on_change);
  rescan(true);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    throw std::runtime_error(fmt::format("policy watcher: eventfd: {}", std::strerror(errno)));
  }
  thread_ = std::thread([this] { run(); });
}

void policy_source::stop() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    (void)::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (stop_fd_ >= 0) {
    ::close(stop_fd_);
    stop_fd_ = -1;
  }
}

void policy_source::run() {
  bool force = false;
  for (;;) {
    // Watches go up before the read, so a change made during the read is not missed.
    const auto watched = last_listing_.dirs;
    const int ifd = watch(opts_.dir, watched);
    try {
      rescan(force);
    } catch (const std::exception& e) {
      logger()->error("policy directory read failed: {}", e.what());
    }
    if (last_listing_.dirs != watched && ifd >= 0) {
      ::close(ifd);  // new folders: watch them too before waiting
      force = false;
      continue;
    }
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {ifd, POLLIN, 0}};
    const int n = ::poll(fds, ifd >= 0 ? 2 : 1, static_cast<int>(opts_.rescan_interval.count()));
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      if (ifd >= 0) {
        ::close(ifd);
      }
      return;
    }
    force = n > 0 && ifd >= 0 && (fds[1].revents & POLLIN) != 0;
    if (force) {
      // Let a burst of events settle (at most a second), then read once.
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      do {
        drain(ifd);
        pollfd again{ifd, POLLIN, 0};
        if (::poll(&again, 1, static_cast<int>(opts_.settle.count())) <= 0) {
          break;
        }
      } while (std::chrono::steady_clock::now() < until);
    }
    if (ifd >= 0) {
      ::close(ifd);
    }
  }
}

void policy_source::fail(const std::string& why) {
  reread_ = true;  // read everything again next time; keep watching the folders known so far
  std::lock_guard lock(mu_);
  if (why != error_) {
    logger()->error("policy directory {}: {}; {}", opts_.dir, why,
                    current_ ? "still serving the last good bundle " + current_->hash
                             : std::string("GET /policy answers 503 until it is fixed"));
  }
  error_ = why;
}

void policy_source::rescan(bool force) {
  listing l;
  snapshot next;
  try {
    l = list_directory(opts_.dir, opts_.limits);
    if (!force && !reread_ && l == last_listing_) {
      return;
    }
    next = read_snapshot(opts_.dir, l, opts_.limits);
  } catch (const scan_error& e) {
    fail(e.what());
    return;
  }
  last_listing_ = std::move(l);
  reread_ = false;
  const bool top_data = next.find("data.json") != nullptr;
  // The answer most requests get, made here so the I/O threads only copy it.
  next.full_json = std::make_shared<const std::string>(full_bundle(next, {"."}));
  auto fresh = std::make_shared<const snapshot>(std::move(next));
  std::shared_ptr<const snapshot> before;
  {
    std::lock_guard lock(mu_);
    if (!error_.empty()) {
      logger()->info("policy directory {} is readable again", opts_.dir);
      error_.clear();
    }
    if (current_ && current_->hash == fresh->hash) {
      current_ = fresh;  // same contents (a touch): keep the newest texts anyway
      return;
    }
    before = current_;
    if (before) {
      past_.push_front(std::make_shared<const snapshot>(before->index_only()));
      if (past_.size() > opts_.history) {
        past_.pop_back();
      }
      ++changes_;
    }
    current_ = fresh;
  }
  if (top_data) {
    logger()->warn("policy directory {}: data.json at the top is written over the engine's "
                   "whole data tree by OPAL clients (PUT /v1/data): put it in a folder",
                   opts_.dir);
  }
  if (!before) {
    logger()->info("policy directory {}: {} files, bundle {}", opts_.dir, fresh->files.size(),
                   fresh->hash);
    return;
  }
  policy_change change{before->hash, fresh->hash, changed_directories(*before, *fresh)};
  logger()->info("policy directory {} changed: bundle {} -> {}, folders [{}]", opts_.dir,
                 change.old_hash, change.new_hash, fmt::join(change.dirs, ", "));
  if (on_change_ && !change.dirs.empty()) {
    on_change_(change);
  }
}

bundle_answer policy_source::answer(const bundle_query& q) const {
  if (!enabled()) {
    const snapshot& none = empty_snapshot();
    return {200, delta_bundle(none, none, {"."})};
  }
  std::shared_ptr<const snapshot> now;
  std::shared_ptr<const snapshot> base;
  std::string error;
  {
    std::lock_guard lock(mu_);
    now = current_;
    error = error_;
    if (q.base_hash && now) {
      if (*q.base_hash == now->hash) {
        base = now;
      } else {
        for (const auto& p : past_) {
          if (p->hash == *q.base_hash) {
            base = p;
            break;
          }
        }
      }
    }
  }
  if (!now) {
    return {503, detail_body("the policy directory could not be read: " + error)};
  }
  if (auto missing = missing_path(*now, q.paths)) {
    return {404, detail_body("requested path " + *missing +
                             " was not found in the policy directory")};
  }
  if (base) {
    return {200, delta_bundle(*base, *now, q.paths)};
  }
  if (q.paths == std::vector<std::string>{"."} && now->full_json) {
    return {200, *now->full_json};
  }
  return {200, full_bundle(*now, q.paths)};
}

policy_source::status_view policy_source::status() const {
  std::lock_guard lock(mu_);
  status_view v;
  v.ok = error_.empty();
  v.error = error_;
  v.hash = current_ ? current_->hash : "";
  v.files = current_ ? current_->files.size() : 0;
  v.changes = changes_;
  return v;
}

source_options options_of(const config::server_config& cfg) {
  source_options o;
  o.dir = cfg.policy_dir;
  o.limits.max_file_bytes = cfg.policy_max_file_bytes;
  o.limits.max_total_bytes = cfg.policy_max_total_bytes;
  o.limits.max_files = cfg.policy_max_files;
  o.rescan_interval = cfg.policy_rescan_interval;
  return o;
}

std::string check_directory(const config::server_config& cfg) {
  const auto o = options_of(cfg);
  try {
    const snapshot s = read_snapshot(o.dir, list_directory(o.dir, o.limits), o.limits);
    return fmt::format("policy.dir: {} modules, bundle {}", s.files.size(), s.hash);
  } catch (const scan_error& e) {
    return fmt::format("warning: policy.dir: {}", e.what());
  }
}

}  // namespace pdl::server::policy
