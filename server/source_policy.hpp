#pragma once
// The source rules the server checks published updates against (docs/source-rules.md): the
// agent's rules, minus what only an agent knows (its own store and API), plus agents' default
// store and API addresses on loopback.
#include "shared/config/server_config.hpp"
#include "shared/http/source_rules.hpp"
#include "shared/model/data_update.hpp"
#include "shared/model/errors.hpp"

namespace pdl::server {

/**
 * The built-in denies (link-local, cloud metadata); the default policy store URL and API listen
 * address of agents (config::agent_config's defaults: localhost:8181 and 127.0.0.1:7000, every
 * loopback form of them), since the server cannot know each agent's; fetch.deny; fetch.allow.
 * @throws std::invalid_argument only for entries the config loader did not check.
 */
http_client::source_rules server_source_rules(const config::server_config& cfg);

/**
 * Checks every entry of @p update that agents would fetch (a url and no inline data).
 * @throws model::invalid_input for the first one refused, at "entries[i].url", with a message
 *         naming the source (without user info or query) and the rule.
 */
void check_sources(const http_client::source_rules& rules, const model::data_update& update);

}  // namespace pdl::server
