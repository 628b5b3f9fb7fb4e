#pragma once
// `opal-client print-config`: the effective configuration in the YAML file's layout. Secrets
// (tokens) become "<redacted>" ("" when unset); URLs lose their credentials. TLS appears as file
// paths plus "tls_enabled"/"mtls" switches; no file is read, so no key material can be printed.
#include <nlohmann/json.hpp>

#include "shared/config/agent_config.hpp"

namespace pdl::agent {

/** The document print-config prints (dump(2)). policy_store.tls_enabled: the store URL is
 *  https; policy_store.mtls and tls.mtls: a client certificate is presented on that hop;
 *  fetch.effective_rules: every source rule the fetcher applies, built-in ones included. */
nlohmann::json effective_config(const config::agent_config& cfg);

}  // namespace pdl::agent
