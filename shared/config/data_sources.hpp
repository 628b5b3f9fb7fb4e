#pragma once
// Internal to pdl_config: OPAL's ServerDataSourceConfig, from JSON (OPAL_DATA_CONFIG_SOURCES)
// or from YAML (data.config_sources, the same shape).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "shared/model/data_update.hpp"

namespace pdl::config::detail {

struct data_sources {
  std::vector<model::data_source_entry> entries;
  std::optional<std::string> external_source_url;
};

/** Largest OPAL_DATA_CONFIG_SOURCES we accept (inline data may make it large). */
inline constexpr std::size_t max_data_sources_bytes = 16 * 1024 * 1024;

/**
 * {"config":{"entries":[...]}} or {"external_source_url":"https://..."}: exactly one of the two
 * non-null. Other keys are refused (a misspelt "entires" must not silently mean "no data").
 * Entries go through model::parse_data_source_config.
 * @throws model::invalid_input whose path is relative to the document ("config.entries[0].url").
 */
data_sources parse_data_sources(const nlohmann::json& doc);

/** Same, from JSON text. @throws model::invalid_input ("invalid JSON: ..." for bad syntax). */
data_sources parse_data_sources_text(std::string_view text);

/** A YAML tree as JSON, with YAML 1.2 core-schema typing of plain scalars (null, booleans,
 *  integers, floats); quoted scalars stay strings. */
nlohmann::json yaml_to_json(const YAML::Node& node);

}  // namespace pdl::config::detail
