#pragma once
// data_fetcher over libcurl's multi interface (shared/http/multi_client.hpp): every transfer runs
// on the client's one thread, none holds a worker; each streams the source's body to a temp file
// while validating it, so memory stays bounded whatever the document's size.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/data_fetcher.hpp"
#include "agent/secret_refs.hpp"
#include "shared/http/multi_client.hpp"
#include "shared/http/source_rules.hpp"
#include "shared/log/secret.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::agent {

/** Where the agent downloads the blobs its server fetched (docs/fetch-once.md). */
struct blob_origin {
  /** http(s)://host[:port][/prefix] of the server, no trailing '/': blobs are GET
   *  <base_url>/data/blobs/<sha256>. */
  std::string base_url;
  /** Sent as "Authorization: Bearer <token>" when not empty; never logged. */
  secret token;
};

struct http_fetcher_options {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{10000};  // no byte for this long = failure
  std::chrono::milliseconds total_timeout{600000};  // the whole fetch; 0 = none
  std::uint64_t low_speed_limit = 0;                // bytes/s over low_speed_time; 0 = off
  std::chrono::milliseconds low_speed_time{30000};
  std::uint64_t max_bytes = 1024ull * 1024 * 1024;
  int max_redirects = 5;
  long max_per_host = 6;
  std::optional<std::string> proxy;     // nullopt: the environment's; "" none
  std::optional<std::string> no_proxy;  // nullopt: the environment's NO_PROXY  // connections to one source host at once; further fetches queue
  std::string temp_dir;  // "" = $TMPDIR or /tmp
  std::size_t max_depth = 512;
  tls::client_files tls;  // CA / client certificate for https sources (the agent's tls.*)
  /** Source rules checked on every hop and connected address; null = none. */
  std::shared_ptr<const http_client::source_rules> rules;
  /** ${secret:NAME} in header values (agent/secret_refs.hpp); null = references are refused. */
  std::shared_ptr<const secret_refs> secrets;
  /** Runs the preparation of a fetch that names secrets (reading them, creating its temp file)
   *  where blocking is allowed: the agent's worker pool. Other fetches, and all when unset,
   *  are prepared inline on the caller's thread. */
  std::function<void(std::function<void()>)> blocking;
  /** Entries with a blob (fetched once by the server) are downloaded from the server this
   *  returns, whatever their url and config say. Called on the thread calling fetch(), once per
   *  blob entry: thread-safe and quick (no I/O). Unset: such entries fail permanently. */
  std::function<blob_origin()> blob_server;
};

/**
 * fetch(): entry.url with entry.config (headers, method, body, is_json, timeout; see
 * model::parse_fetcher_config). Status >= 400 fails (4xx permanent); the body must be exactly one
 * JSON value (error names the byte offset). With is_json=false the body becomes a JSON string,
 * escaped while streaming. Thread-safe: each call has its own temp file; connections to a
 * source are kept and reused. Completions run on the client's thread. Destroying the fetcher
 * ends the fetches still running (each completes with a fetch_error).
 *
 * An entry with a blob ignores its url and config: GET <blob_server().base_url>/data/blobs/
 * <sha256> with the origin's token, on a client of its own (its connections are never reused
 * by a source fetch: the source rules do not apply to the agent's own server), with the same
 * timeouts, size limit, TLS files and proxy, no redirect followed. The body is hashed and counted
 * while it is spooled; a different size or SHA-256 fails with blob_mismatch_error (more bytes
 * than announced stop the transfer at once); then it is validated as JSON as any other. A 404
 * says the server no longer has the blob (permanent).
 */
class http_fetcher final : public data_fetcher {
 public:
  explicit http_fetcher(http_fetcher_options options);
  ~http_fetcher() override;
  void fetch(const model::data_source_entry& entry, fetch_done done) override;

 private:
  /** Builds the request (config, secrets, temp file) and starts the transfer. */
  void start(const model::data_source_entry& entry, fetch_done done);
  /** The same for an entry with a blob: from the server, checked against the blob. */
  void start_blob(const model::data_source_entry& entry, fetch_done done);
  /** Timeouts, size limit, proxy and TLS files: what every transfer shares. */
  void apply_limits(http_client::request& req) const;
  http_fetcher_options options_;
  std::unique_ptr<http_client::multi_client> client_;
  /** Blob downloads: kept apart so that a connection opened without the source rules is never
   *  reused by a source fetch. Made on the first blob (its thread costs an idle agent nothing
   *  until the server fetches something for it). */
  std::once_flag blob_client_made_;
  std::unique_ptr<http_client::multi_client> blob_client_;
};

}  // namespace pdl::agent
