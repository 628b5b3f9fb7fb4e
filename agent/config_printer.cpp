#include "agent/config_printer.hpp"

#include <string>
#include <vector>

#include "agent/source_policy.hpp"
#include "shared/http/client.hpp"
#include "shared/http/url.hpp"

namespace pdl::agent {
namespace {

using nlohmann::json;

std::string redacted(const secret& s) { return s.empty() ? "" : "<redacted>"; }

std::vector<std::string> redacted_urls(const std::vector<std::string>& urls) {
  std::vector<std::string> out;
  for (const auto& u : urls) {
    out.push_back(http_client::redact_url(u));
  }
  return out;
}

bool is_https(const std::string& url) { return url_scheme(url) == "https"; }

// mTLS on a hop = a client certificate is presented there (the config loader already checked
// that the certificate comes with its key).
bool mtls(const tls::client_files& f) { return !f.cert_file.empty(); }

}  // namespace

json effective_config(const config::agent_config& c) {
  bool server_tls = false;
  for (const auto& u : c.server_urls) {
    server_tls = server_tls || is_https(u);
  }
  return {
      {"server",
       {{"urls", redacted_urls(c.server_urls)},
        {"token", redacted(c.client_token)},
        {"data_config_url", http_client::redact_url(c.data_config_url)},
        {"reconnect_min_ms", c.reconnect_min.count()},
        {"reconnect_max_ms", c.reconnect_max.count()},
        {"ping_interval_seconds", c.ws_ping_interval.count()},
        {"max_message_bytes", c.ws_max_message_bytes}}},
      {"data", {{"topics", c.data_topics}}},
      {"policy_store",
       {{"url", http_client::redact_url(c.policy_store_url)},
        {"auth_type", c.policy_store_auth_type},
        {"auth_token", redacted(c.policy_store_auth_token)},
        {"timeout_ms", c.store_timeout.count()},
        {"tls_enabled", is_https(c.policy_store_url)},
        {"tls_ca", c.policy_store_tls.ca_file},
        {"tls_client_cert", c.policy_store_tls.cert_file},
        {"tls_client_key", c.policy_store_tls.key_file},
        {"mtls", mtls(c.policy_store_tls)}}},
      {"tls",
       {{"enabled", server_tls},
        {"ca_file", c.tls.ca_file},
        {"client_cert", c.tls.cert_file},
        {"client_key", c.tls.key_file},
        {"mtls", mtls(c.tls)}}},
      {"fetch",
       {{"connect_timeout_ms", c.fetch_connect_timeout.count()},
        {"idle_timeout_ms", c.fetch_idle_timeout.count()},
        {"total_timeout_ms", c.fetch_total_timeout.count()},
        {"low_speed_limit", c.fetch_low_speed_limit},
        {"low_speed_time_ms", c.fetch_low_speed_time.count()},
        {"max_bytes", c.fetch_max_bytes},
        {"max_redirects", c.fetch_max_redirects},
        {"workers", c.fetch_workers},
        {"max_in_flight", c.fetch_max_in_flight},
        {"max_per_host", c.fetch_max_per_host},
        {"degraded_after_ms", c.fetch_degraded_after.count()},
        {"proxy", c.fetch_proxy ? nlohmann::json(http_client::redact_url(*c.fetch_proxy))
                                : nlohmann::json()},
        {"no_proxy", c.fetch_no_proxy ? nlohmann::json(*c.fetch_no_proxy) : nlohmann::json()},
        {"temp_dir", c.temp_dir},
        {"secrets_dir", c.fetch_secrets_dir},
        {"allow", c.fetch_allow},
        {"deny", c.fetch_deny},
        {"effective_rules", agent_source_rules(c).describe()}}},
      {"api", {{"host", c.api_host}, {"port", c.api_port}}},
      {"agent",
       {{"data_dir", c.data_dir},
        {"ready_when_stale", c.ready_when_stale},
        {"marker_check_interval_ms", c.marker_interval.count()}}},
      {"retry",
       {{"attempts", c.retry_attempts},
        {"base_ms", c.retry_base.count()},
        {"max_ms", c.retry_max.count()}}},
      {"limits", {{"queue_bytes", c.queue_bytes}}},
      {"reports",
       {{"enabled", c.report_on_updates}, {"callbacks", redacted_urls(c.report_callbacks)}}},
      {"log", {{"level", c.log_level}, {"format", c.log_format}}}};
}

}  // namespace pdl::agent
