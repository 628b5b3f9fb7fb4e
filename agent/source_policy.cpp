#include "agent/source_policy.hpp"

#include <string>

#include "shared/http/url.hpp"

namespace pdl::agent {

http_client::source_rules agent_source_rules(const config::agent_config& cfg) {
  auto rules = http_client::source_rules::with_defaults();
  std::string why;
  if (auto store = http_client::parse_url(cfg.policy_store_url, why)) {
    rules.deny_endpoint(store->host, static_cast<std::uint16_t>(std::stoi(store->port)),
                        "the agent's policy store", true);
  }
  if (cfg.api_port != 0) {
    rules.deny_endpoint(cfg.api_host, cfg.api_port, "the agent's API", true);
  }
  rules.add_setting(cfg.fetch_deny, "fetch.deny", false);
  rules.add_setting(cfg.fetch_allow, "fetch.allow", true);
  return rules;
}

}  // namespace pdl::agent
