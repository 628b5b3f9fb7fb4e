#pragma once
// Internal to pdl_config: the source rules' entry lists (`fetch.allow` / `fetch.deny` in YAML,
// OPAL_FETCH_ALLOW / OPAL_FETCH_DENY in the environment), read the same way by the agent and the
// server. Every entry is parsed here (http_client::source_rule), so a bad one is a config problem
// naming its YAML path and index ("fetch.deny[2]") or its variable and item number.
#include <string>
#include <vector>

namespace pdl::config::detail {

class env_reader;
class yaml_section;

/** @p key of @p section: a string or a list of strings, each a valid entry. */
void read_rule_list(yaml_section& section, const std::string& key, std::vector<std::string>& out);

/** Variable @p name: comma-separated entries (trimmed, empty items dropped), each valid. When set,
 *  it replaces the YAML list. */
void read_rule_list(const env_reader& env, const std::string& name, std::vector<std::string>& out);

}  // namespace pdl::config::detail
