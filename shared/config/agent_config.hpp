#pragma once
// Agent configuration: embedded defaults < YAML (--config) < OPAL_* environment < flags.
//
// YAML layout (every key optional; unknown keys refused with their path):
//   server:
//     url: http://localhost:7002   # or a list; the first is preferred
//     token: ...
//     data_config_url: ""          # "" = <url>/data/config
//     reconnect_min_ms: 200
//     reconnect_max_ms: 30000
//     ping_interval_seconds: 20    # 0 = off
//     max_message_bytes: 67108864
//   data: {topics: [policy_data]}   # or a single string
//   policy_store: {url: http://localhost:8181, auth_type: none, auth_token: ..., timeout_ms: 30000,
//                  tls_ca: "", tls_client_cert: "", tls_client_key: ""}   # auth_type: none|token|tls
//   tls:                             # the server hop (WebSocket, data config, reports) and fetches
//     ca_file: ""                    # PEM CA bundle ("" = system store); verification is always on
//     client_cert: ""                # PEM certificate for mTLS, with client_key
//     client_key: ""
//   fetch: {connect_timeout_ms: 5000, idle_timeout_ms: 10000, total_timeout_ms: 600000,
//           low_speed_limit: 0, low_speed_time_ms: 30000, max_bytes: 1073741824,
//           max_redirects: 5, workers: 2, temp_dir: "",
//           allow: [], deny: [],         # source rules (docs/source-rules.md)
//           secrets_dir: ""}             # ${secret:NAME} in src-config headers (docs/secrets.md)
//   api: {host: 127.0.0.1, port: 7000}
//   log: {level: info, format: text}
//   agent:
//     data_dir: ""                   # "" = no persistence (no backup, no resume across restarts)
//     ready_when_stale: true         # with a data_dir: ready from the backup, server or not
//     marker_check_interval_ms: 5000 # how fast an engine restart is noticed
//   retry: {attempts: 5, base_ms: 500, max_ms: 10000}   # per fetch and per engine write
//   reports:
//     enabled: false
//     callbacks: []                  # URLs; [] = <first server url>/data/callback_report
// Environment: the variables named next to each field, plus OPAL_LOG_SERIALIZE (true = json
// lines). Lists are comma-separated and trimmed; OPAL_HTTP_FETCHER_TIMEOUT and
// OPAL_KEEP_ALIVE_INTERVAL are seconds (decimals allowed). An empty variable counts as unset.
// OPAL_DATA_UPDATER_CONN_RETRY is OPAL's JSON {"attempts":N,"wait_time":s,"max_wait":s} (other
// keys ignored); OPAL_DEFAULT_UPDATE_CALLBACKS is OPAL's JSON {"callbacks":["url",...]}.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/config/server_config.hpp"  // env_map, process_env
#include "shared/log/secret.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::config {

struct agent_config {
  // server connection (YAML "server")
  std::vector<std::string> server_urls{"http://localhost:7002"};  // server.url (string or list),
                                          // OPAL_SERVER_URL (comma-separated; first preferred)
  secret client_token;                    // server.token, OPAL_CLIENT_TOKEN
  std::string data_config_url;            // server.data_config_url,
                                          // OPAL_DEFAULT_DATA_SOURCES_CONFIG_URL; "" = <url>/data/config
  std::vector<std::string> data_topics{"policy_data"};  // data.topics, OPAL_DATA_TOPICS (comma list)
  std::chrono::milliseconds reconnect_min{200};         // server.reconnect_min_ms
  std::chrono::milliseconds reconnect_max{30000};       // server.reconnect_max_ms
  std::chrono::seconds ws_ping_interval{20};            // server.ping_interval_seconds,
                                                        // OPAL_KEEP_ALIVE_INTERVAL (0 = off)
  std::size_t ws_max_message_bytes = 64 * 1024 * 1024;  // server.max_message_bytes

  // policy store (YAML "policy_store")
  std::string policy_store_url = "http://localhost:8181";  // OPAL_POLICY_STORE_URL
  std::string policy_store_auth_type = "none";  // none|token|tls, OPAL_POLICY_STORE_AUTH_TYPE
                                                // (tls: a client certificate is required)
  secret policy_store_auth_token;                         // OPAL_POLICY_STORE_AUTH_TOKEN
  std::chrono::milliseconds store_timeout{30000};         // policy_store.timeout_ms
  /** policy_store.tls_ca, tls_client_cert, tls_client_key; OPAL_POLICY_STORE_TLS_CA,
   *  OPAL_POLICY_STORE_TLS_CLIENT_CERT, OPAL_POLICY_STORE_TLS_CLIENT_KEY. */
  tls::client_files policy_store_tls;

  /** The server hop (WebSocket feed, GET data config, reports/acks) and data-source fetches:
   *  tls.ca_file, OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE (used whenever set; OPAL's
   *  OPAL_CLIENT_SELF_SIGNED_CERTIFICATES_ALLOWED is accepted as a bool and not needed);
   *  tls.client_cert, OPAL_CLIENT_TLS_CLIENT_CERT; tls.client_key, OPAL_CLIENT_TLS_CLIENT_KEY.
   *  Files are checked at load (readable, key matching the certificate). */
  tls::client_files tls;

  // fetching (YAML "fetch")
  std::chrono::milliseconds fetch_connect_timeout{5000};  // fetch.connect_timeout_ms
  std::chrono::milliseconds fetch_idle_timeout{10000};    // fetch.idle_timeout_ms (no progress),
                                                          // OPAL_HTTP_FETCHER_TIMEOUT (seconds)
  std::chrono::milliseconds fetch_total_timeout{600000};  // fetch.total_timeout_ms (0 = none)
  std::uint64_t fetch_low_speed_limit = 0;                // fetch.low_speed_limit (bytes/s; 0 = off)
  std::chrono::milliseconds fetch_low_speed_time{30000};  // fetch.low_speed_time_ms (whole seconds
                                                          // for libcurl, rounded up)
  std::uint64_t fetch_max_bytes = 1024ull * 1024 * 1024;  // fetch.max_bytes
  int fetch_max_redirects = 5;                            // fetch.max_redirects
  int fetch_workers = 2;                                  // fetch.workers, OPAL_FETCHING_WORKER_COUNT
                                                          // (threads for engine writes; fetches
                                                          // hold none)
  int fetch_max_in_flight = 256;                          // fetch.max_in_flight (entries at once)
  int fetch_max_per_host = 6;                             // fetch.max_per_host (0 = no limit)
  std::chrono::milliseconds fetch_degraded_after{60000};  // fetch.degraded_after_ms (0 = never)
  /** fetch.proxy: the proxy for every source ("" = none); unset = the environment's
   *  HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY (either case). Secret: may hold credentials. */
  std::optional<std::string> fetch_proxy;
  std::optional<std::string> fetch_no_proxy;  // fetch.no_proxy (curl's NO_PROXY syntax)
  std::string temp_dir;                                   // fetch.temp_dir ("" = system temp)
  /** Source rules (docs/source-rules.md; entries: addresses and CIDRs with an optional port, host
   *  names with `*.` wildcards, URL prefixes; each checked at load). fetch.allow, OPAL_FETCH_ALLOW
   *  (comma-separated): when not empty, only sources matching an entry are fetched. fetch.deny,
   *  OPAL_FETCH_DENY: never fetched, on top of the built-in list (link-local, cloud metadata) and
   *  of the agent's own policy store and API addresses, which the agent adds itself. */
  std::vector<std::string> fetch_allow;
  std::vector<std::string> fetch_deny;
  /** fetch.secrets_dir, OPAL_FETCH_SECRETS_DIR: where `${secret:NAME}` in an entry's header
   *  values is looked up (the file NAME; a mounted Kubernetes Secret), before the variable
   *  OPAL_SECRET_<NAME>. Checked at load: a directory. */
  std::string fetch_secrets_dir;

  // agent API (YAML "api")
  std::string api_host = "127.0.0.1";     // api.host, OPAL_CLIENT_API_SERVER_HOST
  std::uint16_t api_port = 7000;          // api.port, OPAL_CLIENT_API_SERVER_PORT (0 = any)
  std::string port_file;                  // --port-file

  // logging
  std::string log_level = "info";         // log.level, OPAL_LOG_LEVEL
  std::string log_format = "text";        // log.format: text or json

  // persistence and recovery (YAML "agent")
  std::string data_dir;                   // agent.data_dir, OPAL_CLIENT_DATA_DIR, --data-dir
  bool ready_when_stale = true;           // agent.ready_when_stale, OPAL_CLIENT_READY_WHEN_STALE
  std::chrono::milliseconds marker_interval{5000};  // agent.marker_check_interval_ms

  // retries of one fetch / one engine write (YAML "retry"), OPAL_DATA_UPDATER_CONN_RETRY
  int retry_attempts = 5;                           // retry.attempts (1 = no retry)
  std::chrono::milliseconds retry_base{500};        // retry.base_ms
  std::chrono::milliseconds retry_max{10000};       // retry.max_ms

  // memory bounds (YAML "limits")
  /** limits.queue_bytes: queued updates past which the agent stops reading the server until
   *  half of it is applied (back-pressure; nothing is dropped). Fits the example pod's 256 MiB
   *  limit with one max_message_bytes message in flight. */
  std::size_t queue_bytes = 64u * 1024 * 1024;

  // OPAL DataUpdateReports (YAML "reports")
  bool report_on_updates = false;         // reports.enabled, OPAL_SHOULD_REPORT_ON_DATA_UPDATES
  std::vector<std::string> report_callbacks;  // reports.callbacks, OPAL_DEFAULT_UPDATE_CALLBACKS;
                                              // empty = <first server url>/data/callback_report

  /** OPAL_* variables set but not read, each "NAME: why" (a server's setting, an OPAL client
   *  feature not implemented here, or unknown): warned about at start and by check-config. */
  std::vector<std::string> ignored_env;
};

/** @throws config_error listing every problem, each naming its YAML path or variable. */
agent_config load_agent_config(const std::string& yaml_path, const env_map& env);

}  // namespace pdl::config
