#pragma once
// The policy directory behind GET /policy: the current snapshot, a short history of earlier
// ones (for deltas), and a watcher thread that notices changes (inotify on every folder, plus
// a periodic rescan for file systems without inotify) and reports each new snapshot.
//
// The watcher reads files on its own thread, never on an I/O thread. A directory that stops
// being servable (a file unreadable, over a limit, a .rego without a package, a data.json that
// is not JSON) keeps its last good snapshot: the error is logged once, named in /metrics and
// in check-config, and the next change is tried again.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/policy/bundle.hpp"
#include "server/policy/policy_files.hpp"
#include "shared/config/server_config.hpp"

namespace pdl::server::policy {

struct source_options {
  std::string dir;  // empty: no policy is managed here
  scan_limits limits;
  std::chrono::milliseconds rescan_interval{10000};
  /** Quiet time after the last inotify event before the rescan (a ConfigMap update or a
   *  `git checkout` is many events). */
  std::chrono::milliseconds settle{100};
  std::size_t history = 64;  // earlier snapshots kept for deltas
};

/** A new snapshot replaced @p old_hash with @p new_hash; @p dirs as changed_directories(). */
struct policy_change {
  std::string old_hash;
  std::string new_hash;
  std::vector<std::string> dirs;
};

struct bundle_answer {
  int status = 200;
  std::string body;  // a PolicyBundle, or {"detail": ...}
};

/**
 * @par Thread safety
 * answer(), status() may be called from any thread; start() and stop() from one.
 */
class policy_source {
 public:
  using change_handler = std::function<void(const policy_change&)>;

  explicit policy_source(source_options opts);
  ~policy_source();
  policy_source(const policy_source&) = delete;
  policy_source& operator=(const policy_source&) = delete;

  bool enabled() const { return !opts_.dir.empty(); }

  /** Reads the directory once (before the server listens), then starts the watcher, which
   *  calls @p on_change from its thread for every later change. No-op when disabled. */
  void start(change_handler on_change);
  /** Stops and joins the watcher. Idempotent. */
  void stop();

  /**
   * GET /policy. Disabled: an empty delta (old_hash == hash), whatever the query, so an OPAL
   * client deletes none of the engine's policies. Else 404 for a path that is not in the
   * directory, 503 before the first good read, a delta for a known base_hash, a full bundle
   * otherwise (an unknown base_hash too, as OPAL).
   */
  bundle_answer answer(const bundle_query& q) const;

  struct status_view {
    bool ok = true;           // the last read succeeded
    std::string error;        // why not
    std::string hash;         // the served snapshot's hash ("" before the first good read)
    std::size_t files = 0;
    std::uint64_t changes = 0;  // new snapshots since start
  };
  status_view status() const;

 private:
  void run();
  /** One read of the directory; @p force reads files even when the listing looks unchanged. */
  void rescan(bool force);
  void fail(const std::string& why);

  const source_options opts_;
  change_handler on_change_;
  int stop_fd_ = -1;  // eventfd: stop() wakes the watcher
  std::thread thread_;

  mutable std::mutex mu_;
  std::shared_ptr<const snapshot> current_;           // guarded by mu_
  std::deque<std::shared_ptr<const snapshot>> past_;  // guarded by mu_; newest first, no texts
  std::string error_;                                 // guarded by mu_
  std::uint64_t changes_ = 0;                         // guarded by mu_

  listing last_listing_;  // watcher thread only
  bool reread_ = false;   // watcher thread only: the last read failed
};

/** One read of cfg.policy_dir as the server would do it, for check-config: "policy.dir: N
 *  modules, bundle <hash>" or "warning: policy.dir: <file>: <why>". */
std::string check_directory(const config::server_config& cfg);

/** The watcher's options from the server's config. */
source_options options_of(const config::server_config& cfg);

}  // namespace pdl::server::policy
