#include "agent/source_policy.hpp"

#include <stdexcept>
#include <string>

#include "shared/http/url.hpp"

namespace pdl::agent {
namespace {

void add(const std::vector<std::string>& entries, const char* origin, bool allow,
         http_client::source_rules& rules) {
  for (const auto& e : entries) {
    std::string why;
    if (!(allow ? rules.add_allow(e, origin, why) : rules.add_deny(e, origin, why))) {
      throw std::invalid_argument(std::string(origin) + ": " + why);
    }
  }
}

}  // namespace

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
  add(cfg.fetch_deny, "fetch.deny", false, rules);
  add(cfg.fetch_allow, "fetch.allow", true, rules);
  return rules;
}

}  // namespace pdl::agent
