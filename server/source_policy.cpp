#include "server/source_policy.hpp"

#include <string>

#include "shared/config/agent_config.hpp"
#include "shared/http/url.hpp"
#include "shared/model/utf8.hpp"

namespace pdl::server {
namespace {

// A refusal echoes the source (redacted): bounded, as every echo of peer text.
constexpr std::size_t max_echoed_url_bytes = 256;

}  // namespace

http_client::source_rules server_source_rules(const config::server_config& cfg) {
  auto rules = http_client::source_rules::with_defaults();
  const config::agent_config agent_defaults;
  std::string why;
  if (auto store = http_client::parse_url(agent_defaults.policy_store_url, why)) {
    rules.deny_endpoint(store->host, static_cast<std::uint16_t>(std::stoi(store->port)),
                        "agents' default policy store address", false);
  }
  rules.deny_endpoint(agent_defaults.api_host, agent_defaults.api_port,
                      "agents' default API address", false);
  rules.add_setting(cfg.fetch_deny, "fetch.deny", false);
  rules.add_setting(cfg.fetch_allow, "fetch.allow", true);
  return rules;
}

void check_sources(const http_client::source_rules& rules, const model::data_update& update) {
  for (std::size_t i = 0; i < update.entries.size(); ++i) {
    const auto& e = update.entries[i];
    if (e.data_json || e.url.empty()) {
      continue;  // inline data: agents fetch nothing
    }
    if (auto refused = rules.check_url(e.url)) {
      throw model::invalid_input(
          "entries[" + std::to_string(i) + "].url",
          "source '" + model::truncate_utf8(http_client::redact_url(e.url), max_echoed_url_bytes) +
              "' refused: " + refused->message);
    }
  }
}

}  // namespace pdl::server
