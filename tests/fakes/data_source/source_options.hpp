#pragma once
// Command line of fake-data-source: what it serves and how it misbehaves.
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shared/log/secret.hpp"

namespace pdl::fakes {

struct required_header {
  std::string name;  // compared case-insensitively
  secret value;      // compared case-insensitively; never logged nor echoed
};

struct source_options {
  std::string addr = "127.0.0.1:0";
  std::string port_file;
  std::optional<required_header> require;
  std::map<std::string, std::string> routes;  // path -> JSON text, served as-is
  std::map<std::string, int> statuses;        // path -> status always answered
  std::set<std::string> hangs;                // paths never answered
  std::size_t bytes_per_sec = 0;              // 0: full speed
  std::string log_level = "info";
};

/** Largest --route @FILE accepted. */
inline constexpr std::size_t max_route_file_bytes = 512u * 1024 * 1024;

/** Parses the arguments after argv[0]:
 *    --addr HOST:PORT  --port-file PATH  --log-level LEVEL
 *    --require-header "NAME: VALUE"
 *    --route /path=@FILE | --route '/path={"inline":"json"}'   (repeatable; must be JSON)
 *    --status /path=CODE (100..599, repeatable)  --hang /path (repeatable)
 *    --slow-bytes-per-sec N
 *  @throws std::invalid_argument with a precise message; it never quotes a header value. */
source_options parse_source_args(const std::vector<std::string>& args);

}  // namespace pdl::fakes
