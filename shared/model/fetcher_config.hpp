#pragma once
// HttpFetcherConfig: how an agent fetches an entry's url (OPAL's entry.config for HTTP).
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/log/secret.hpp"

namespace pdl::model {

struct http_fetcher_config {
  /** Request headers. Values are secrets: never logged, never echoed in errors. */
  std::vector<std::pair<std::string, secret>> headers;
  std::string method = "GET";          // GET, POST, PUT, PATCH, HEAD, DELETE (any case accepted)
  std::optional<std::string> body;     // request body: JSON text, or the string's bytes
  bool is_json = true;                 // false: the payload is forwarded as a JSON string
  /** "timeout" (seconds, > 0, at most a day): this entry's total fetch time limit, overriding
   *  the agent's fetch.total_timeout_ms. Our extension; OPAL ignores it. */
  std::optional<std::chrono::milliseconds> timeout;
};

/** Parses entry.config (raw JSON object or nullopt). Keys OPAL knows and we do not use
 *  (fetcher, process_data) are accepted and ignored; wrong types are refused.
 *  @throws invalid_input with path "config.<key>". */
http_fetcher_config parse_fetcher_config(const std::optional<std::string>& config_json);

}  // namespace pdl::model
