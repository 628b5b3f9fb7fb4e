#pragma once
// data_fetcher over libcurl's multi interface (shared/http/multi_client.hpp): every transfer runs
// on the client's one thread, none holds a worker; each streams the source's body to a temp file
// while validating it, so memory stays bounded whatever the document's size.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/data_fetcher.hpp"
#include "agent/secret_refs.hpp"
#include "shared/http/multi_client.hpp"
#include "shared/http/source_rules.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::agent {

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
};

/**
 * fetch(): entry.url with entry.config (headers, method, body, is_json, timeout; see
 * model::parse_fetcher_config). Status >= 400 fails (4xx permanent); the body must be exactly one
 * JSON value (error names the byte offset). With is_json=false the body becomes a JSON string,
 * escaped while streaming. Thread-safe: each call has its own temp file; connections to a
 * source are kept and reused. Completions run on the client's thread. Destroying the fetcher
 * ends the fetches still running (each completes with a fetch_error).
 */
class http_fetcher final : public data_fetcher {
 public:
  explicit http_fetcher(http_fetcher_options options);
  ~http_fetcher() override;
  void fetch(const model::data_source_entry& entry, fetch_done done) override;

 private:
  /** Builds the request (config, secrets, temp file) and starts the transfer. */
  void start(const model::data_source_entry& entry, fetch_done done);
  http_fetcher_options options_;
  std::unique_ptr<http_client::multi_client> client_;
};

}  // namespace pdl::agent
