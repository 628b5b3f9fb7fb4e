#pragma once
// The base data-source config the server serves on GET /data/config: what a (re)connecting agent
// loads before applying incremental updates.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "shared/log/secret.hpp"
#include "shared/model/data_update.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::agent {

struct base_config_request {
  std::string url;  // e.g. http://server:7002/data/config
  secret token;     // the client token, sent as "Authorization: Bearer" to the server's host only
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{10000};
  std::uint64_t max_bytes = 64 * 1024 * 1024;
  int max_redirects = 5;
  tls::client_files tls;  // the agent's tls.* (server hop), for every hop of the redirects
};

/**
 * GETs and parses the base config. Redirects (OPAL answers 307 to an external source) are
 * followed, but the token goes only to the host it was meant for. Blocking; call from a worker.
 * @throws std::runtime_error with a message that names the (redacted) URL and the problem.
 */
std::vector<model::data_source_entry> load_base_config(const base_config_request& request);

/** scheme://host:port of @p url, lower-cased, default port made explicit ("" if unparsable). */
std::string url_origin(const std::string& url);

/** Resolves a Location header against the URL it came from. */
std::string resolve_location(const std::string& base, const std::string& location);

}  // namespace pdl::agent
