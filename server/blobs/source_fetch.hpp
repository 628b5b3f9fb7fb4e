#pragma once
// The server's fetch of an entry fetched once for every agent (issue 12, docs/fetch-once.md):
// the entry's url with its config (headers, method, body, is_json, timeout), through the same
// libcurl multi client as the agent's fetcher (timeouts, source rules on every hop and address,
// redirects checked), streamed through validation into a blob_store::writer. No thread waits
// for the source: transfers run on the client's own thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "server/blobs/blob_store.hpp"
#include "shared/http/multi_client.hpp"
#include "shared/http/source_rules.hpp"
#include "shared/model/data_update.hpp"

namespace pdl::server::blobs {

struct source_fetch_options {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{10000};
  std::chrono::milliseconds total_timeout{30000};  // an entry's config.timeout may lower it
  std::uint64_t max_bytes = 256ull << 20;           // blobs.max_blob_bytes
  int max_redirects = 5;
  long max_per_host = 6;
  std::size_t max_depth = 512;
  /** Checked on every hop and connected address; null = none. Must outlive the fetcher. */
  const http_client::source_rules* rules = nullptr;
};

/** Why a source gave no blob, as the publisher is told: the HTTP status of the publish's answer
 *  (422: the entry or the source's answer is wrong; 502: the source failed or is unreachable;
 *  504: it did not answer in time; 507: the blob store is full or unusable) and a message that
 *  names the source without its user info or query, never a header value or the body. */
struct source_failure {
  int status = 502;
  std::string message;
};

/** What the source said about its document's version, for the next conditional fetch. */
struct validators {
  std::string etag;           // ETag, sent back as If-None-Match
  std::string last_modified;  // Last-Modified, sent back as If-Modified-Since
};

/** How one fetch ended: a blob (uncommitted), a failure, or the source's 304 (not_modified:
 *  neither blob nor failure). */
struct source_result {
  std::unique_ptr<blob_store::writer> blob;
  std::optional<source_failure> failure;
  bool not_modified = false;
  validators seen;  // from the answer (empty when it had none)
};

class source_fetcher {
 public:
  using done_fn = std::function<void(source_result result)>;

  source_fetcher(blob_store& store, source_fetch_options options);
  ~source_fetcher();
  source_fetcher(const source_fetcher&) = delete;
  source_fetcher& operator=(const source_fetcher&) = delete;

  /**
   * Fetches @p entry's url into a new blob writer. @p done runs exactly once, on the client's
   * thread (or on the caller's before fetch() returns when the entry is refused at once), with
   * the writer holding the whole validated document, not yet committed (commit() syncs: call
   * it where blocking is allowed), or with the failure. Creates the writer's temp file on the
   * calling thread: call from a pool. Thread-safe.
   */
  void fetch(const model::data_source_entry& entry, done_fn done);
  /** The same, conditional on @p known (If-None-Match / If-Modified-Since when set): a source
   *  that answers 304 ends it with source_result::not_modified. */
  void fetch(const model::data_source_entry& entry, const validators& known, done_fn done);

 private:
  blob_store& store_;
  source_fetch_options options_;
  std::unique_ptr<http_client::multi_client> client_;
};

}  // namespace pdl::server::blobs
