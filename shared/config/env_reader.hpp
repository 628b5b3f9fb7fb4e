#pragma once
// Internal to pdl_config: typed reads of OPAL_* variables, each problem naming the variable.
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shared/config/config_error.hpp"
#include "shared/config/server_config.hpp"  // env_map
#include "shared/log/secret.hpp"

namespace pdl::config::detail {

/**
 * Reads environment overrides. A variable that is unset or empty leaves the value as it was.
 * Booleans: true/false/1/0, case-insensitive (OPAL's rule). Lists: comma-separated, trimmed,
 * empty items dropped. Problems are appended with where = "env NAME"; secret values never
 * appear in a message.
 */
class env_reader {
 public:
  env_reader(const env_map& env, std::vector<problem>& problems);

  /** The value, or nullptr when unset or empty. */
  const std::string* get(const std::string& name) const;

  void read(const std::string& name, std::string& out) const;
  void read(const std::string& name, secret& out) const;
  void read(const std::string& name, bool& out) const;
  void read(const std::string& name, std::vector<std::string>& out) const;
  std::optional<std::int64_t> read_int(const std::string& name, std::int64_t min,
                                       std::int64_t max, const std::string& what) const;
  /** A decimal number of seconds (> 0 unless @p allow_zero), e.g. "5" or "2.5". */
  std::optional<std::chrono::milliseconds> read_seconds(const std::string& name,
                                                        bool allow_zero) const;

  void add_problem(const std::string& name, std::string message) const;

  /** The OPAL_* variables set (non-empty) that no read asked for, sorted. */
  std::vector<std::string> unread_opal_variables() const;

 private:
  const env_map* env_;
  std::vector<problem>* problems_;
  mutable std::set<std::string> asked_;
};

/** Comma-separated list, items trimmed, empty items dropped. */
std::vector<std::string> split_list(const std::string& value);

/** Lower-cased, OPAL's names mapped ("warning" -> "warn", "success" -> "info"); nullopt when
 *  not a level. */
std::optional<std::string> normalize_log_level(const std::string& level);
inline constexpr const char* log_levels_text = "trace, debug, info, warn, error, critical, off";

class yaml_section;
/** log.level (normalised) and log.format (text|json) from YAML. */
void read_log_settings(yaml_section& log, std::string& level, std::string& format);
/** OPAL_LOG_LEVEL, and OPAL_LOG_SERIALIZE (OPAL's switch for JSON lines) as the format. */
void read_log_settings(const env_reader& env, std::string& level, std::string& format);

/** An absolute http(s) URL that parsed_url (shared/http/url) accepts. */
bool is_http_url(const std::string& url);
/** Why @p url is not one: "'<url without credentials or query>' is not an http(s) URL:
 *  <reason>"; std::nullopt when it is. */
std::optional<std::string> http_url_problem(const std::string& url);
std::string to_lower(std::string s);

}  // namespace pdl::config::detail
