#pragma once
// Pure helpers behind the CLI verbs: flags in, model values out, no I/O (unit-tested alone).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "shared/model/data_update.hpp"

namespace pdl::cli {

/** publish-data-update's flags, as typed by the user. */
struct publish_flags {
  std::optional<std::string> entries_json;     // -e/--entries: JSON list of DataSourceEntry
  std::optional<std::string> src_url;          // --src-url
  std::vector<std::string> topics;             // -t/--topic (repeatable)
  std::optional<std::string> data_json;        // --data
  std::optional<std::string> src_config_json;  // --src-config (JSON object, HttpFetcherConfig)
  std::string dst_path;                        // --dst-path
  std::string save_method = "PUT";             // --save-method: PUT or PATCH, any case
  std::string reason;                          // --reason
  std::string fetched_by;                      // --fetched-by: "" (the server's default),
                                               // agent or server (docs/fetch-once.md)
};

/**
 * Builds the DataUpdate the flags describe, validated with model::validate.
 * With --src-url (or --data, for an inline update with no url) one entry is built from the
 * single-entry flags and replaces --entries, as OPAL's CLI does; topics default to
 * "policy_data". Otherwise --entries is required.
 * @throws model::invalid_input whose path names the flag ("--src-config: invalid JSON: ...")
 *         or, for --entries, the entry field ("--entries[0].dst_path: ...").
 */
model::data_update build_data_update(const publish_flags& flags);

/** obtain-token's --ttl: "N" (seconds) or "N UNIT" with UNIT one of seconds, minutes, hours,
 *  days, weeks (singular accepted). N may have decimals; the result is > 0.
 *  @throws model::invalid_input with path "--ttl". */
double parse_ttl(const std::vector<std::string>& values);

/** publish-data-update's --wait value, in seconds: "" (the flag without a value) means 30;
 *  otherwise a number > 0 and <= 86400, decimals allowed. The error never quotes the value
 *  (a misplaced token may end up here).
 *  @throws model::invalid_input with path "--wait". */
std::chrono::milliseconds parse_wait(const std::string& value);

/** --claims: a JSON object. @throws model::invalid_input with path "--claims". */
nlohmann::json parse_claims(std::string_view text);

/** Parses @p text as JSON for flag @p flag; the error never quotes the input.
 *  @throws model::invalid_input(flag, "invalid JSON: ..."). */
nlohmann::json parse_flag_json(std::string_view flag, std::string_view text);

}  // namespace pdl::cli
