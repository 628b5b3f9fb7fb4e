#include "shared/config/opal_settings.hpp"

#include <array>
#include <utility>

namespace pdl::config::detail {
namespace {

struct rule {
  std::string_view prefix;  // a whole name, or a prefix ending in '_'
  std::string_view why;
};

constexpr std::string_view agent_setting =
    "an agent (opal-client) setting: opal-server does not read it";

// First match wins: the agent's OPAL_POLICY_STORE_* before the policy-sync OPAL_POLICY_*.
constexpr std::array<rule, 51> rules{{
    {"OPAL_CLIENT_LOAD_LIMIT_NOTATION", "no /loadlimit; limits.* bound connections and "
                                        "pending publishes"},
    {"OPAL_CLIENT_", agent_setting},
    {"OPAL_POLICY_STORE_", agent_setting},
    {"OPAL_DATA_TOPICS", agent_setting},
    {"OPAL_DATA_UPDATER_", agent_setting},
    {"OPAL_DATA_STORE_", agent_setting},
    {"OPAL_DEFAULT_DATA_", agent_setting},
    {"OPAL_DEFAULT_UPDATE_", agent_setting},
    {"OPAL_FETCHING_", agent_setting},
    {"OPAL_HTTP_FETCHER_", agent_setting},
    {"OPAL_FETCH_PROVIDER_MODULES", agent_setting},
    {"OPAL_INLINE_", agent_setting},
    {"OPAL_OFFLINE_MODE_", agent_setting},
    {"OPAL_OPA_HEALTH_CHECK_", agent_setting},
    {"OPAL_SHOULD_REPORT_", agent_setting},
    {"OPAL_SERVER_URL", agent_setting},
    {"OPAL_SERVER_WS_URL", agent_setting},
    {"OPAL_SERVER_PUBSUB_URL", agent_setting},
    {"OPAL_POLICY_UPDATER_", agent_setting},
    {"OPAL_POLICY_SUBSCRIPTION_DIRS", agent_setting},
    {"OPAL_KEEP_ALIVE_INTERVAL", agent_setting},
    {"OPAL_SCOPE_ID", agent_setting},
    {"OPAL_SPLIT_ROOT_DATA", agent_setting},
    {"OPAL_STORE_BACKUP_", agent_setting},
    {"OPAL_WAIT_ON_SERVER_LOAD", agent_setting},
    {"OPAL_OPA_V0_COMPAT", agent_setting},
    {"OPAL_EXCLUDE_POLICY_STORE_SECRETS", agent_setting},
    {"OPAL_DEFAULT_OPAL_SERVER_CONNECTIVITY_DISABLED", agent_setting},
    {"OPAL_OPAL_CLIENT_STAT_ID", agent_setting},
    {"OPAL_POLICY_", "policy sync from a git repository or a bundle server is not implemented: "
                     "bundles are served from policy.dir (OPAL_POLICY_DIR), which a git-sync "
                     "sidecar or a ConfigMap can fill (docs/policy.md)"},
    {"OPAL_REPO_WATCHER_", "policy sync from a git repository is not implemented: policy.dir "
                           "is watched with inotify (docs/policy.md)"},
    {"OPAL_FILTER_FILE_EXTENSIONS", "bundles hold .rego and data.json files, fixed"},
    {"OPAL_BUNDLE_IGNORE", "files and folders whose name starts with '.' are left out of "
                           "bundles; nothing else is configurable"},
    {"OPAL_SCOPES", "scopes are not implemented (one data plane per server)"},
    {"OPAL_SCOPES_", "scopes are not implemented (one data plane per server)"},
    {"OPAL_ALLOWED_ORIGINS", "no CORS: the API is for services and agents, not browsers"},
    {"OPAL_DATA_CALLBACK_DEFAULT_ROUTE", "callbacks are the agent's; POST /data/callback_report "
                                         "is fixed"},
    {"OPAL_LEADER_LOCK_FILE_PATH", "one process, no leader election (policy.dir is read by "
                                   "every replica)"},
    {"OPAL_NO_RPC_LOGS", "RPC frames are never logged; log.level sets the rest"},
    {"OPAL_REDIS_URL", "scopes are not implemented; the backbone's Redis is OPAL_BROADCAST_URI"},
    {"OPAL_BASE_DIR", "scopes are not implemented; the update log's directory is "
                      "OPAL_SERVER_DATA_DIR"},
    {"OPAL_BROADCAST_", "the Redis backbone reconnects, replays from its update log and reports "
                        "its health by itself (docs/replicas.md): not configurable"},
    {"OPAL_STATISTICS_", "/statistics is always on (master token or a listener JWT)"},
    {"OPAL_ENABLE_METRICS", "metrics are Prometheus text at /metrics, always on (no statsd)"},
    {"OPAL_ENABLE_DATADOG_APM", "no Datadog APM; metrics are Prometheus text at /metrics"},
    {"OPAL_LOG_", "loguru's settings have no equivalent; log.level (OPAL_LOG_LEVEL) and "
                  "log.format (OPAL_LOG_SERIALIZE) are read"},
    {"OPAL_AUTH_JWKS_", "the public key is served at the fixed /.well-known/jwks.json"},
    {"OPAL_ALL_DATA_", "OPAL's placeholder /policy-data entry is not served: the base config is "
                       "data.config_sources (OPAL_DATA_CONFIG_SOURCES)"},
    {"OPAL_SERVER_WORKER_COUNT", "one process; server.threads sets its I/O threads"},
    {"OPAL_WS_", "OPAL's legacy in-process publisher helpers (unused by OPAL's server too)"},
    {"OPAL_MAX_CHANNELS_PER_CLIENT", "no per-client channel limit; limits.max_connections "
                                     "bounds connections"},
}};

constexpr std::string_view server_setting =
    "an opal-server setting: opal-client does not read it";

// First match wins.
constexpr std::array<rule, 27> agent_rules{{
    {"OPAL_INLINE_OPA_", "no inline OPA: run OPA (or another engine) beside the agent and set "
                         "OPAL_POLICY_STORE_URL"},
    {"OPAL_POLICY_UPDATER_", "the agent loads data only: OPA gets its policies by its own means "
                             "(OPA bundles, files); opal-server serves OPAL clients' policy "
                             "bundles (docs/policy.md)"},
    {"OPAL_POLICY_SUBSCRIPTION_DIRS", "the agent loads data only (no policy updater)"},
    {"OPAL_POLICY_STORE_TYPE", "the engine is OPA's data API (PUT/PATCH /v1/data), fixed"},
    {"OPAL_POLICY_STORE_POLICY_PATHS_TO_IGNORE", "the agent writes no policies"},
    {"OPAL_POLICY_STORE_CONN_RETRY", "retry.* (attempts, base_ms, max_ms) bounds engine retries"},
    {"OPAL_POLICY_STORE_", "not implemented for the engine connection; policy_store.* lists what "
                           "is (opal-client print-config)"},
    {"OPAL_OFFLINE_MODE_", "agent.data_dir (OPAL_CLIENT_DATA_DIR) keeps a backup of the engine's "
                           "data and the last applied seq"},
    {"OPAL_STORE_BACKUP_", "agent.data_dir (OPAL_CLIENT_DATA_DIR) keeps the backup"},
    {"OPAL_OPA_HEALTH_CHECK_", "no system.opal policy: /ready, /healthy and /status on the "
                               "agent's API say the same"},
    {"OPAL_SPLIT_ROOT_DATA", "a PUT at the root is written as one document"},
    {"OPAL_SCOPE_ID", "scopes are not implemented"},
    {"OPAL_WAIT_ON_SERVER_LOAD", "no /loadlimit gate: the agent reconnects with backoff"},
    {"OPAL_FETCH_PROVIDER_MODULES", "HTTP(S) sources only (libcurl); no provider plugins"},
    {"OPAL_DATA_UPDATER_ENABLED", "the data updater is what the agent is: always on"},
    {"OPAL_DATA_STORE_", "not implemented"},
    {"OPAL_DEFAULT_UPDATE_CALLBACK", "reports.callbacks (OPAL_DEFAULT_UPDATE_CALLBACKS) is read"},
    {"OPAL_SERVER_WS_URL", "derived from OPAL_SERVER_URL"},
    {"OPAL_SERVER_PUBSUB_URL", "derived from OPAL_SERVER_URL"},
    {"OPAL_OPA_V0_COMPAT", "the agent runs no OPA"},
    {"OPAL_EXCLUDE_POLICY_STORE_SECRETS", "secrets never appear in /statistics or logs here"},
    {"OPAL_AUTH_", server_setting},
    {"OPAL_BROADCAST_", server_setting},
    {"OPAL_DATA_CONFIG_", server_setting},
    {"OPAL_POLICY_", server_setting},
    {"OPAL_SERVER_", server_setting},
    {"OPAL_STATISTICS_", server_setting},
}};

bool matches(std::string_view name, std::string_view prefix) {
  return prefix.back() == '_' ? name.substr(0, prefix.size()) == prefix : name == prefix;
}

}  // namespace

bool is_kubernetes_service_link(std::string_view name, std::string_view value) {
  const auto ends_with = [&](std::string_view tail) {
    return name.size() >= tail.size() && name.substr(name.size() - tail.size()) == tail;
  };
  if (ends_with("_SERVICE_HOST") || name.find("_SERVICE_PORT") != std::string_view::npos) {
    return true;
  }
  if (ends_with("_PORT")) {
    return value.rfind("tcp://", 0) == 0 || value.rfind("udp://", 0) == 0 ||
           value.rfind("sctp://", 0) == 0;
  }
  // NAME_PORT_<digits>_TCP[_PROTO|_PORT|_ADDR]
  for (auto at = name.find("_PORT_"); at != std::string_view::npos;
       at = name.find("_PORT_", at + 1)) {
    std::size_t i = at + 6;
    const std::size_t digits_start = i;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') {
      ++i;
    }
    if (i > digits_start && (name.substr(i, 4) == "_TCP" || name.substr(i, 4) == "_UDP" ||
                             name.substr(i, 5) == "_SCTP")) {
      return true;
    }
  }
  return false;
}

std::string why_the_server_ignores(std::string_view name) {
  for (const auto& r : rules) {
    if (matches(name, r.prefix)) {
      return std::string(r.why);
    }
  }
  return "not an opal-server setting (a typo, or an OPAL setting this server does not "
         "implement)";
}

bool is_agent_secret_variable(std::string_view name) {
  return name.substr(0, 12) == "OPAL_SECRET_";
}

std::string why_the_agent_ignores(std::string_view name) {
  for (const auto& r : agent_rules) {
    if (matches(name, r.prefix)) {
      return std::string(r.why);
    }
  }
  return "not an opal-client setting (a typo, or an OPAL setting this agent does not "
         "implement)";
}

}  // namespace pdl::config::detail
