#pragma once
// Base entries the server fetches (docs/fetch-once.md, "Periodic base entries"): an entry of
// data.config_sources with fetched_by server (or the server's default) is fetched by the server
// at start and then every periodic_update_interval, conditionally (If-None-Match /
// If-Modified-Since when the source gave an ETag / Last-Modified) and compared by hash where it
// did not. Only a new document is published (one update on the entry's topics); unchanged, no
// agent does any work. GET /data/config serves such an entry rewritten to its current blob
// (signed url, blob, no config, no periodic_update_interval: the server refreshes it, agents do
// not), and leaves it out until the server has fetched it once.
// With replicas (Redis), one replica fetches per interval (a lock in Redis) and records the
// current blob there; the others serve what it recorded.
// Runs on a thread of its own (it waits for sources, the blob sync, Redis and the log).
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/blobs/blob_store.hpp"
#include "server/blobs/redis_blobs.hpp"
#include "server/blobs/source_fetch.hpp"
#include "shared/model/data_update.hpp"

namespace pdl::server::blobs {

struct base_refresh_hooks {
  /** Stores and fans out @p update (blocking; update_intake::commit). @return the HTTP-like
   *  status (200 stored). */
  std::function<int(model::data_update update)> publish;
  /** The signed URL of blob @p sha256 (blob_urls::signed_url with the server's base). */
  std::function<std::string(const std::string& sha256)> signed_url;
};

class base_refresher {
 public:
  /** @p entries: every base entry (the config's order is kept in config_json()). Starts no
   *  thread: start() does. */
  base_refresher(std::vector<model::data_source_entry> entries, model::fetched_by fallback,
                 source_fetcher& fetcher, blob_store& store, redis_blobs* shared,
                 base_refresh_hooks hooks);
  ~base_refresher();
  base_refresher(const base_refresher&) = delete;
  base_refresher& operator=(const base_refresher&) = delete;

  /** True when some base entry is fetched by the server. */
  bool active() const { return !refreshed_.empty(); }
  void start();
  void stop();

  /** {"entries":[...]} for GET /data/config, signed now. Thread-safe, never waits long. */
  std::string config_json() const;

  /** The hashes of the blobs served for base entries now (kept by retention). */
  std::set<std::string> current_blobs() const;

  /** Fetches that found the document unchanged (304 or the same hash), and updates published. */
  std::uint64_t unchanged() const;
  std::uint64_t published() const;

 private:
  struct tracked {
    std::size_t index;          // in entries_
    std::string name;           // the source, redacted, for logs
    std::string lock_key;       // names it in Redis
    std::chrono::seconds every{0};  // 0: once (then retried until it succeeds)
    validators known;
    std::optional<model::blob_ref> current;
    std::chrono::steady_clock::time_point due{};
    std::chrono::seconds retry{5};
  };
  void loop();
  /** One round for @p t: fetch (or, with replicas, follow the replica that did). */
  void refresh(tracked& t);
  void adopt(tracked& t, const model::blob_ref& ref, bool publish);

  std::vector<model::data_source_entry> entries_;
  source_fetcher& fetcher_;
  blob_store& store_;
  redis_blobs* shared_;
  base_refresh_hooks hooks_;
  std::vector<tracked> refreshed_;  // touched by the thread only, but current (below)

  mutable std::mutex mu_;
  std::vector<std::optional<model::blob_ref>> current_;  // guarded by mu_, per entry
  std::uint64_t unchanged_ = 0;                          // guarded by mu_
  std::uint64_t published_ = 0;                          // guarded by mu_
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace pdl::server::blobs
