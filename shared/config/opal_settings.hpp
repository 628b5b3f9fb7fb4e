#pragma once
// Internal to pdl_config: what opal-server says about an OPAL_* variable it does not read, so
// no OPAL setting is ever silently ignored (a user swapping servers sees each one named).
#include <string>
#include <string_view>

namespace pdl::config::detail {

/** One line: why opal-server does not act on @p name (an OPAL_* variable it did not read):
 *  not implemented (and what to use instead), fixed here, an agent's setting, or unknown. */
std::string why_the_server_ignores(std::string_view name);

/** The same for opal-client (our agent): a server's setting, an OPAL client feature we do not
 *  implement (with what to use instead), or unknown. OPAL_SECRET_* are never listed (they are
 *  read when an entry names them: agent/secret_refs.hpp). */
std::string why_the_agent_ignores(std::string_view name);
/** Whether @p name is one of the agent's secrets by reference (OPAL_SECRET_*). */
bool is_agent_secret_variable(std::string_view name);

/** A variable Kubernetes injects for a Service (service links: a Service named opal-server gives
 *  OPAL_SERVER_SERVICE_HOST, OPAL_SERVER_PORT=tcp://..., OPAL_SERVER_PORT_7002_TCP_ADDR, ...):
 *  not a setting, not worth a warning. */
bool is_kubernetes_service_link(std::string_view name, std::string_view value);

}  // namespace pdl::config::detail
