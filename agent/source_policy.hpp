#pragma once
// The agent's source rules (docs/source-rules.md): what its fetcher may request.
#include "shared/config/agent_config.hpp"
#include "shared/http/source_rules.hpp"

namespace pdl::agent {

/**
 * The built-in denies (link-local, cloud metadata), then the agent's own services: its policy
 * store (policy_store.url's host and port: on loopback, every local way to reach that port,
 * interfaces included) and its API listen address (api.host and api.port; not with port 0, which
 * is only known once bound), then fetch.deny, then fetch.allow. So a published update cannot make
 * the agent copy its own store's data (or its API's answers) into the store.
 * @throws std::invalid_argument only for entries the config loader did not check.
 */
http_client::source_rules agent_source_rules(const config::agent_config& cfg);

}  // namespace pdl::agent
