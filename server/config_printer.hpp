#pragma once
// `opal-server print-config`: the effective configuration in the YAML file's layout, with every
// secret replaced by "<redacted>" (or null when unset). TLS appears as file paths plus
// "enabled" and "mtls" switches; no file is read, so no key material can be printed.
#include <string>

#include <nlohmann/json.hpp>

#include "shared/config/server_config.hpp"

namespace pdl::server {

nlohmann::json effective_config(const config::server_config& cfg);
/** Block-style YAML of a JSON document (for print-config --format yaml). */
std::string to_yaml(const nlohmann::json& doc);

}  // namespace pdl::server
