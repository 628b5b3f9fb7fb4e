#pragma once
// The base data-source config the server serves on GET /data/config (or redirects to, for an
// external source): what a (re)connecting agent loads before applying incremental updates.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "shared/log/secret.hpp"
#include "shared/model/data_update.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::agent {

struct base_config_request {
  std::string url;  // e.g. http://server:7002/data/config
  /** The client token, sent as "Authorization: Bearer" to the server and to the external source
   *  the server redirects to (see load_base_config). */
  secret token;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{10000};
  std::chrono::milliseconds total_timeout{600000};  // per GET; 0 = none
  std::uint64_t max_bytes = 64 * 1024 * 1024;  // per response, server and external source alike
  tls::client_files tls;  // the agent's tls.* (server hop), for the external source too
};

/** Longest Location header accepted from the server's data config route. */
inline constexpr std::size_t max_location_bytes = 8192;

/**
 * GETs and parses the base config (a DataSourceConfig, {"entries":[...]}).
 *
 * External source (the server's data.config_sources.external_source_url): the server answers
 * 301/302/303/307/308 with Location: that URL. The agent follows exactly one such hop, to an
 * absolute http(s) URL only, and sends its client token there as "Authorization: Bearer
 * <token>" (OPAL's server appends ?token=<jwt> to the URL instead, which leaks the token into
 * access logs, proxies and Referer headers; our server sends the URL as configured, and the
 * external service reads the token from the header). The external source must answer 200 with
 * the same {"entries":[...]} shape, within the same size limit; a further redirect is an error.
 * Neither URL's query string nor the token ever appears in a message or a log line. Use https
 * for the external source: over plain http the token crosses the network readable (warned once
 * per process).
 *
 * Blocking; call from a worker.
 * @throws std::runtime_error with a message that names the (redacted) URL and the problem.
 */
std::vector<model::data_source_entry> load_base_config(const base_config_request& request);

/** parsed_url::origin() of an http(s) @p url: scheme://host[:port], lower-cased, default port
 *  elided ("" if it does not parse). */
std::string url_origin(const std::string& url);

}  // namespace pdl::agent
