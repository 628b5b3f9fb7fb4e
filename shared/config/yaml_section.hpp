#pragma once
// Internal to pdl_config: strict reading of one YAML mapping into plain values.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "shared/config/config_error.hpp"
#include "shared/log/secret.hpp"

namespace pdl::config::detail {

/**
 * One YAML mapping, read strictly. Every accessor records its key as known, present or not;
 * finish() then reports every other key as unknown, with the list of expected ones. Problems are
 * appended to the shared list (never thrown), each naming its dotted path ("server.port").
 * An absent or null section reads as empty; any other non-mapping is one problem.
 *
 * Scalars: strings accept any scalar (plain or quoted); integers and booleans accept plain
 * scalars only, so `port: "7002"` is refused as a string. Values of secret fields never appear
 * in a message.
 */
class yaml_section {
 public:
  yaml_section(YAML::Node node, std::string path, std::vector<problem>& problems);

  yaml_section section(const std::string& key);

  /** The raw node of @p key (nullopt when absent), recorded as known. */
  std::optional<YAML::Node> raw(const std::string& key);

  void read(const std::string& key, std::string& out);
  void read(const std::string& key, secret& out);
  void read(const std::string& key, bool& out);
  /** A string or a list of strings; a single string becomes a one-element list. */
  void read(const std::string& key, std::vector<std::string>& out);
  /** An integer in [min, max]; @p what describes the expected value ("a port"). */
  std::optional<std::int64_t> read_int(const std::string& key, std::int64_t min, std::int64_t max,
                                       const std::string& what = "an integer");

  /** Reports keys that no accessor asked for. Call once, after every accessor. */
  void finish();

  std::string path_of(const std::string& key) const;
  void add_problem(const std::string& key, std::string message);

 private:
  std::optional<YAML::Node> lookup(const std::string& key);
  std::optional<std::string> scalar(const std::string& key, const YAML::Node& n,
                                    const char* expected, bool quoted_ok);

  YAML::Node node_;
  std::string path_;
  std::vector<problem>* problems_;
  bool is_map_ = false;
  std::vector<std::string> known_;
};

/** Loads @p yaml_path (empty: no file) as the root section's node; problems on read/parse
 *  errors (with line and column). */
YAML::Node load_yaml_file(const std::string& yaml_path, std::vector<problem>& problems);

/** "a mapping", "a list", "null", "a string", "a scalar": for type errors. */
std::string describe(const YAML::Node& n);

}  // namespace pdl::config::detail
