#pragma once
// Server configuration: embedded defaults < YAML file < OPAL_* environment < command-line flags.
// Parsed, validated (unknown keys rejected, each error names its YAML path), then immutable.
//
// YAML layout (every key optional; defaults below):
//   server: {host: 127.0.0.1, port: 7002, threads: 2, publish_threads: 4, data_dir: "",
//            public_url: ""}       # how agents and OPAL clients reach us (signed blob URLs)
//     tls:                         # HTTPS + WSS on the one listener (docs/tls.md)
//       cert_file: ""              # PEM chain, OPAL_SERVER_TLS_CERT_FILE
//       key_file: ""               # PEM key (unencrypted), OPAL_SERVER_TLS_KEY_FILE
//       client_ca_file: ""         # mTLS: clients need a cert it signed, OPAL_SERVER_TLS_CLIENT_CA_FILE
//   auth:
//     enabled: true
//     master_token: ...            # secrets: better from the environment or a mounted file
//     private_key: ...             # key text or a path
//     private_key_format: pem      # pem | ssh | der
//     private_key_passphrase: ...
//     public_key: ...
//     public_key_format: ssh
//     jwt_audience: https://api.opal.ac/v1/
//     jwt_issuer: https://opal.ac/
//   data:
//     config_sources:              # OPAL_DATA_CONFIG_SOURCES' shape, in YAML: exactly one of
//       config: {entries: [{url: ..., topics: [...], dst_path: ..., config: {...}}]}
//       # external_source_url: https://...
//     config_route: /data/config
//     fetched_by_default: agent    # agent | server: who fetches an entry that does not say
//   blobs:                         # documents the server fetched once for every agent
//     dir: ""                      # "" = <server.data_dir>/blobs, or a temp folder without one
//     max_bytes: 1073741824        # all blobs together
//     max_blob_bytes: 268435456    # one document
//     fetch_timeout_ms: 30000      # the server's fetch of one source at publish
//     url_ttl_seconds: 86400       # how long a signed blob URL stays valid
//     retention_interval_seconds: 300  # how often blobs no update refers to are removed
//     retention_grace_seconds: 600     # never a blob younger than this
//   limits: {max_body_bytes, max_header_bytes, ws_max_message_bytes, ws_send_queue,
//            max_connections, http_read_timeout_seconds, ws_ping_interval_seconds (0 = off),
//            retained_updates, tracked_updates, max_pending_publishes}
//   update_log:                    # the durable log under server.data_dir
//     fsync: always                # always | interval | never
//     fsync_interval_ms: 1000      # for fsync: interval
//     segment_bytes: 67108864
//     retention_bytes: 1073741824  # history beyond this (or older than retention_seconds) is
//     retention_seconds: 604800    # compacted: the current state is never dropped
//   broadcast:                     # replicas share one update log in Redis (docs/replicas.md)
//     uri: ""                      # redis://[[user]:password@]host[:port][/db], or Sentinel:
//                                  # redis-sentinel://[[user]:password@]host[:port]
//                                  #   [,host[:port]...][/db]#master-name
//                                  # OPAL_BROADCAST_URI
//     key_prefix: pdl              # keys <prefix>:log, <prefix>:seq, <prefix>:log_id;
//                                  # OPAL_BROADCAST_CHANNEL_NAME
//     retained_updates: 1000000    # the stream is trimmed to about this many updates
//     timeout_ms: 2000             # a Redis command slower than this fails (publish: 503)
//     min_replicas: 0              # a publish is acknowledged once this many replicas have it
//                                  # (WAIT); OPAL_BROADCAST_MIN_REPLICAS
//     min_replicas_timeout_ms: 1000  # how long WAIT waits for them (then 503);
//                                  # OPAL_BROADCAST_MIN_REPLICAS_TIMEOUT_MS
//   fetch: {allow: [], deny: []}  # source rules checked at publish (docs/source-rules.md)
//   policy:                        # OPAL's policy bundle API, from a directory (docs/policy.md)
//     dir: ""                      # .rego and data.json files; OPAL_POLICY_DIR, --policy-dir
//     rescan_interval_ms: 10000    # besides inotify, a full rescan this often
//     max_file_bytes: 4194304      # one file
//     max_total_bytes: 33554432    # all files together
//     max_files: 10000
//   log: {level: info, format: text}   # trace|debug|info|warn|error|critical|off; text|json
// Environment (overrides the file): the variables named next to each field, plus
// OPAL_SERVER_PORT (OPAL's deprecated alias of OPAL_SERVER_BIND_PORT, used only when it is a
// plain number), OPAL_LOG_SERIALIZE (true = json lines) and OPAL_AUTH_JWT_ALGORITHM (RS256 only).
// Booleans: true/false/1/0, case-insensitive. An empty variable counts as unset.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/auth/keys.hpp"
#include "shared/log/secret.hpp"
#include "shared/model/data_update.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::config {

using env_map = std::map<std::string, std::string>;

/** When the durable update log calls fdatasync: before answering each publish (concurrent
 *  publishes share one call), every fsync_interval, or never (the OS decides). */
enum class fsync_policy { always, interval, never };
std::string_view to_string(fsync_policy p);
/** The process environment as a map (for tests: pass your own). */
env_map process_env();

/** The default base config: one inline entry on OPAL's default data topic, policy_data, that
 *  PUTs {"loaded": true} at /pdl/base. An OPAL client counts itself ready and healthy only
 *  after one successful data write; this gives it one that touches nothing of the user's. */
std::vector<model::data_source_entry> default_base_entries();

struct server_config {
  // listen
  std::string host = "127.0.0.1";        // server.host, OPAL_SERVER_HOST, --host
  std::uint16_t port = 7002;             // server.port, OPAL_SERVER_BIND_PORT, --port (0 = any)
  int threads = 2;                       // server.threads (I/O threads)
  /** server.publish_threads: the pool that stores publishes (append, fsync, Redis, the wait for
   *  seq order), so a slow or frozen update log never holds an I/O thread (docs/ARCHITECTURE.md). */
  int publish_threads = 4;
  std::string port_file;                 // --port-file: write the bound port here once listening
  /** server.data_dir, OPAL_SERVER_DATA_DIR, --data-dir: where the durable update log lives.
   *  Empty: updates are kept in memory only (not durable; the server WARNs at start). */
  std::string data_dir;
  /** server.tls.*, OPAL_SERVER_TLS_{CERT,KEY,CLIENT_CA}_FILE: with a certificate the listener
   *  serves only HTTPS/WSS (TLS 1.2+). Checked at load: both or neither of cert and key, files
   *  readable, key matching the certificate. */
  tls::server_files tls;

  // durable update log (YAML section "update_log")
  fsync_policy log_fsync = fsync_policy::always;      // update_log.fsync, OPAL_SERVER_LOG_FSYNC
  std::chrono::milliseconds log_fsync_interval{1000};  // update_log.fsync_interval_ms
  std::size_t log_segment_bytes = 64 * 1024 * 1024;    // update_log.segment_bytes
  std::size_t log_retention_bytes = std::size_t{1} << 30;        // update_log.retention_bytes
  std::chrono::seconds log_retention_age{7 * 24 * 3600};         // update_log.retention_seconds

  // replicas over Redis (YAML section "broadcast"); with a uri the update log lives in Redis
  // and server.data_dir must be empty
  secret broadcast_uri;                        // broadcast.uri, OPAL_BROADCAST_URI (may hold a password)
  std::string broadcast_key_prefix = "pdl";    // broadcast.key_prefix, OPAL_BROADCAST_CHANNEL_NAME
  std::size_t broadcast_retained_updates = 1'000'000;  // broadcast.retained_updates
  std::chrono::milliseconds broadcast_timeout{2000};   // broadcast.timeout_ms
  int broadcast_min_replicas = 0;  // broadcast.min_replicas, OPAL_BROADCAST_MIN_REPLICAS (WAIT)
  std::chrono::milliseconds broadcast_min_replicas_timeout{1000};  // ..._timeout_ms, OPAL_..._MS

  // auth (YAML section "auth")
  bool auth_enabled = true;              // auth.enabled, OPAL_AUTH_ENABLED; off only explicitly
  secret master_token;                   // auth.master_token, OPAL_AUTH_MASTER_TOKEN
  secret private_key;                    // auth.private_key, OPAL_AUTH_PRIVATE_KEY (text or path)
  auth::key_format private_key_format = auth::key_format::pem;  // OPAL_AUTH_PRIVATE_KEY_FORMAT
  secret private_key_passphrase;         // OPAL_AUTH_PRIVATE_KEY_PASSPHRASE
  std::string public_key;                // auth.public_key, OPAL_AUTH_PUBLIC_KEY
  auth::key_format public_key_format = auth::key_format::ssh;   // OPAL_AUTH_PUBLIC_KEY_FORMAT
  std::string jwt_audience = "https://api.opal.ac/v1/";         // OPAL_AUTH_JWT_AUDIENCE
  std::string jwt_issuer = "https://opal.ac/";                  // OPAL_AUTH_JWT_ISSUER

  // data
  /** Base data-source config served on GET /data/config (OPAL_DATA_CONFIG_SOURCES JSON, or YAML
   *  data.config_sources with the same shape). Exactly one of entries / external_source_url.
   *  Default: default_base_entries(), one harmless inline entry (OPAL's default PUTs {} over
   *  the whole store; no entry at all leaves an OPAL client unhealthy forever). */
  std::vector<model::data_source_entry> data_config_entries = default_base_entries();
  std::optional<std::string> external_source_url;
  std::string data_config_route = "/data/config";  // OPAL_DATA_CONFIG_ROUTE
  /** data.fetched_by_default, OPAL_DATA_FETCHED_BY_DEFAULT: who fetches a published entry that
   *  does not say (docs/fetch-once.md). agent (OPAL's behaviour) or server. */
  model::fetched_by fetched_by_default = model::fetched_by::agent;

  // blobs (YAML section "blobs"): what the server fetched once, for every agent
  std::string blobs_dir;                                // blobs.dir, OPAL_BLOBS_DIR
  std::uint64_t blobs_max_bytes = 1ull << 30;           // blobs.max_bytes
  std::uint64_t blobs_max_blob_bytes = 256ull << 20;    // blobs.max_blob_bytes
  std::chrono::milliseconds blobs_fetch_timeout{30000}; // blobs.fetch_timeout_ms
  std::chrono::seconds blobs_url_ttl{86400};            // blobs.url_ttl_seconds
  std::chrono::seconds blobs_retention_interval{300};   // blobs.retention_interval_seconds
  std::chrono::seconds blobs_retention_grace{600};      // blobs.retention_grace_seconds
  /** server.public_url, OPAL_SERVER_PUBLIC_URL: http(s)://host[:port][/prefix] at which agents
   *  and OPAL clients reach this server; the base of signed blob URLs. "": derived from
   *  server.host and port, unless the host is a wildcard (the URL is then a path only, which
   *  our agents do not need and OPAL clients cannot open). */
  std::string public_url;
  /** Source rules, the agent's (docs/source-rules.md): every entry of a published update that
   *  agents would fetch (a url, no inline data) is checked, and refused with 422 naming the rule.
   *  fetch.allow, OPAL_FETCH_ALLOW; fetch.deny, OPAL_FETCH_DENY (comma-separated); each entry
   *  checked at load. On top of the built-in denies and agents' default store and API addresses. */
  std::vector<std::string> fetch_allow;
  std::vector<std::string> fetch_deny;

  // policy bundles (YAML section "policy")
  /** policy.dir, OPAL_POLICY_DIR, --policy-dir: GET /policy serves bundles of the .rego and
   *  data.json files under it, and a change is announced on policy:<dir> topics. Empty: no
   *  policy is managed here, and GET /policy answers an empty delta (an OPAL client then
   *  deletes none of the engine's policies). */
  std::string policy_dir;
  std::chrono::milliseconds policy_rescan_interval{10000};  // policy.rescan_interval_ms
  std::size_t policy_max_file_bytes = 4 * 1024 * 1024;     // policy.max_file_bytes
  std::size_t policy_max_total_bytes = 32 * 1024 * 1024;   // policy.max_total_bytes
  std::size_t policy_max_files = 10000;                     // policy.max_files

  // limits (YAML section "limits")
  std::size_t max_body_bytes = 8 * 1024 * 1024;       // limits.max_body_bytes
  std::size_t max_header_bytes = 16 * 1024;           // limits.max_header_bytes
  std::size_t ws_max_message_bytes = 1024 * 1024;     // limits.ws_max_message_bytes (agent -> server)
  std::size_t ws_send_queue_max = 1024;               // limits.ws_send_queue (messages per agent)
  std::size_t max_connections = 20000;                // limits.max_connections
  std::chrono::seconds http_read_timeout{30};         // limits.http_read_timeout_seconds
  std::chrono::seconds ws_ping_interval{20};          // limits.ws_ping_interval_seconds
  std::size_t log_retained_updates = 100000;          // limits.retained_updates (in memory)
  std::size_t tracked_updates = 10000;                // limits.tracked_updates (delivery status)
  /** limits.max_pending_publishes: publishes (HTTP and WebSocket) that may wait for the update
   *  log at once; one more is refused (HTTP 503 with Retry-After, WebSocket `false`). */
  std::size_t max_pending_publishes = 64;

  // logging
  std::string log_level = "info";        // log.level, OPAL_LOG_LEVEL
  std::string log_format = "text";       // log.format: text or json

  /** OPAL_* variables set but not read, each "NAME: why" (not implemented, fixed here, an
   *  agent's setting, or unknown): warned about at start and by check-config. */
  std::vector<std::string> ignored_env;
};

/**
 * Builds the server config. @p yaml_path may be empty (no file). Environment variables override
 * the file; OPAL_* variables it does not read are listed in server_config::ignored_env, each
 * with the reason (OPAL has 176 of them), never silently ignored. Kubernetes' injected
 * OPAL_SERVER_PORT=tcp://host:port (a Service named opal-server) is recognised and ignored.
 * @throws config_error listing every problem, each naming its YAML path or variable.
 */
server_config load_server_config(const std::string& yaml_path, const env_map& env);

/** Why @p dir cannot be policy.dir (it is not a directory), or nullopt (fine, or empty). */
std::optional<std::string> policy_dir_problem(const std::string& dir);

}  // namespace pdl::config
