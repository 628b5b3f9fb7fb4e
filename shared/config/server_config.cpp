#include "shared/config/server_config.hpp"

#include <filesystem>
#include <functional>
#include <stdexcept>

#include "shared/config/config_error.hpp"
#include "shared/config/data_sources.hpp"
#include "shared/config/env_reader.hpp"
#include "shared/config/opal_settings.hpp"
#include "shared/config/source_rule_lists.hpp"
#include "shared/config/yaml_section.hpp"
#include "shared/redis/endpoint.hpp"

extern char** environ;

namespace pdl::config {
namespace {

using detail::env_reader;
using detail::yaml_section;

constexpr std::int64_t max_size = std::int64_t{1} << 40;
constexpr std::int64_t max_seconds = 24 * 3600;
constexpr std::int64_t max_retention_seconds = std::int64_t{10} * 366 * 24 * 3600;
constexpr std::int64_t max_min_replicas = 16;  // WAIT counts replicas of one primary
constexpr std::int64_t max_min_replicas_timeout_ms = 60 * 1000;

void read_key_format(yaml_section& s, const std::string& key, auth::key_format& out) {
  std::string text;
  s.read(key, text);
  if (text.empty()) {
    return;
  }
  try {
    out = auth::parse_key_format(text);
  } catch (const std::invalid_argument&) {
    s.add_problem(key, "'" + text + "' is not a key format (pem, ssh or der)");
  }
}

void read_key_format(const env_reader& env, const std::string& name, auth::key_format& out) {
  if (auto v = env.get(name)) {
    try {
      out = auth::parse_key_format(*v);
    } catch (const std::invalid_argument&) {
      env.add_problem(name, "'" + *v + "' is not a key format (pem, ssh or der)");
    }
  }
}

void read_fsync(const std::string& text, const std::function<void(std::string)>& problem,
                fsync_policy& out) {
  if (text == "always") {
    out = fsync_policy::always;
  } else if (text == "interval") {
    out = fsync_policy::interval;
  } else if (text == "never") {
    out = fsync_policy::never;
  } else {
    problem("'" + text + "' is not an fsync policy (always, interval or never)");
  }
}

}  // namespace

std::vector<model::data_source_entry> default_base_entries() {
  model::data_source_entry e;
  e.topics = {std::string(model::default_data_topic)};
  e.dst_path = "/pdl/base";
  e.data_json = R"({"loaded":true})";
  return {e};
}

namespace {

template <class Problem>
void read_fetched_by(const std::string& text, Problem problem, model::fetched_by& out) {
  if (text == "agent") {
    out = model::fetched_by::agent;
  } else if (text == "server") {
    out = model::fetched_by::server;
  } else {
    problem("'" + text + "' is not who fetches (agent or server)");
  }
}

/** Why @p url cannot be server.public_url, or nullopt. */
std::optional<std::string> public_url_problem(const std::string& url) {
  if (url.empty()) {
    return std::nullopt;
  }
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return "must start with http:// or https://";
  }
  if (url.find_first_of("?#@ \t\r\n") != std::string::npos) {
    return "must be a plain http(s)://host[:port][/prefix], without user, query or fragment";
  }
  if (url.size() > 1024) {
    return "is longer than 1024 characters";
  }
  return std::nullopt;
}

void apply_sources(server_config& c, const detail::data_sources& src) {
  c.data_config_entries = src.entries;
  c.external_source_url = src.external_source_url;
}

void read_yaml(const YAML::Node& root, server_config& c, std::vector<problem>& problems) {
  yaml_section top(root, "", problems);

  auto server = top.section("server");
  server.read("host", c.host);
  if (auto v = server.read_int("port", 0, 65535, "a port")) {
    c.port = static_cast<std::uint16_t>(*v);
  }
  if (auto v = server.read_int("threads", 1, 64, "a thread count")) {
    c.threads = static_cast<int>(*v);
  }
  if (auto v = server.read_int("publish_threads", 1, 64, "a thread count")) {
    c.publish_threads = static_cast<int>(*v);
  }
  server.read("data_dir", c.data_dir);
  server.read("public_url", c.public_url);
  auto tls = server.section("tls");
  tls.read("cert_file", c.tls.cert_file);
  tls.read("key_file", c.tls.key_file);
  tls.read("client_ca_file", c.tls.client_ca_file);
  tls.finish();
  server.finish();

  auto auth = top.section("auth");
  auth.read("enabled", c.auth_enabled);
  auth.read("master_token", c.master_token);
  auth.read("private_key", c.private_key);
  read_key_format(auth, "private_key_format", c.private_key_format);
  auth.read("private_key_passphrase", c.private_key_passphrase);
  auth.read("public_key", c.public_key);
  read_key_format(auth, "public_key_format", c.public_key_format);
  auth.read("jwt_audience", c.jwt_audience);
  auth.read("jwt_issuer", c.jwt_issuer);
  auth.finish();

  auto data = top.section("data");
  if (auto sources = data.raw("config_sources")) {
    try {
      apply_sources(c, detail::parse_data_sources(detail::yaml_to_json(*sources)));
    } catch (const model::invalid_input& e) {
      const auto base = data.path_of("config_sources");
      problems.push_back({e.path().empty() ? base : base + "." + e.path(), e.message()});
    }
  }
  data.read("config_route", c.data_config_route);
  if (c.data_config_route.empty() || c.data_config_route.front() != '/') {
    data.add_problem("config_route", "must start with '/'");
  }
  std::string fetched_by;
  data.read("fetched_by_default", fetched_by);
  if (!fetched_by.empty()) {
    read_fetched_by(fetched_by,
                    [&](std::string m) { data.add_problem("fetched_by_default", std::move(m)); },
                    c.fetched_by_default);
  }
  data.finish();

  auto blobs = top.section("blobs");
  blobs.read("dir", c.blobs_dir);
  if (auto v = blobs.read_int("max_bytes", 4096, max_size, "a size in bytes")) {
    c.blobs_max_bytes = static_cast<std::uint64_t>(*v);
  }
  if (auto v = blobs.read_int("max_blob_bytes", 1, max_size, "a size in bytes")) {
    c.blobs_max_blob_bytes = static_cast<std::uint64_t>(*v);
  }
  if (auto v = blobs.read_int("fetch_timeout_ms", 100, max_seconds * 1000, "a timeout")) {
    c.blobs_fetch_timeout = std::chrono::milliseconds(*v);
  }
  if (auto v = blobs.read_int("url_ttl_seconds", 60, max_retention_seconds, "a duration")) {
    c.blobs_url_ttl = std::chrono::seconds(*v);
  }
  if (auto v = blobs.read_int("retention_interval_seconds", 1, max_seconds, "an interval")) {
    c.blobs_retention_interval = std::chrono::seconds(*v);
  }
  if (auto v = blobs.read_int("retention_grace_seconds", 1, max_seconds, "a duration")) {
    c.blobs_retention_grace = std::chrono::seconds(*v);
  }
  blobs.finish();

  auto limits = top.section("limits");
  auto size = [&](const char* key, std::size_t& out) {
    if (auto v = limits.read_int(key, 1, max_size, "a size in bytes")) {
      out = static_cast<std::size_t>(*v);
    }
  };
  size("max_body_bytes", c.max_body_bytes);
  size("max_header_bytes", c.max_header_bytes);
  size("ws_max_message_bytes", c.ws_max_message_bytes);
  if (auto v = limits.read_int("ws_send_queue", 1, 1'000'000, "a message count")) {
    c.ws_send_queue_max = static_cast<std::size_t>(*v);
  }
  if (auto v = limits.read_int("max_connections", 1, 10'000'000, "a connection count")) {
    c.max_connections = static_cast<std::size_t>(*v);
  }
  if (auto v = limits.read_int("http_read_timeout_seconds", 1, max_seconds, "a timeout")) {
    c.http_read_timeout = std::chrono::seconds(*v);
  }
  if (auto v = limits.read_int("ws_ping_interval_seconds", 0, max_seconds, "an interval")) {
    c.ws_ping_interval = std::chrono::seconds(*v);
  }
  if (auto v = limits.read_int("retained_updates", 0, 100'000'000, "an update count")) {
    c.log_retained_updates = static_cast<std::size_t>(*v);
  }
  if (auto v = limits.read_int("tracked_updates", 1, 10'000'000, "an update count")) {
    c.tracked_updates = static_cast<std::size_t>(*v);
  }
  if (auto v = limits.read_int("max_pending_publishes", 1, 1'000'000, "a publish count")) {
    c.max_pending_publishes = static_cast<std::size_t>(*v);
  }
  limits.finish();

  auto ulog = top.section("update_log");
  std::string fsync;
  ulog.read("fsync", fsync);
  if (!fsync.empty()) {
    read_fsync(fsync, [&](std::string m) { ulog.add_problem("fsync", std::move(m)); },
               c.log_fsync);
  }
  if (auto v = ulog.read_int("fsync_interval_ms", 1, max_seconds * 1000, "an interval")) {
    c.log_fsync_interval = std::chrono::milliseconds(*v);
  }
  if (auto v = ulog.read_int("segment_bytes", 4096, max_size, "a size in bytes")) {
    c.log_segment_bytes = static_cast<std::size_t>(*v);
  }
  if (auto v = ulog.read_int("retention_bytes", 4096, max_size, "a size in bytes")) {
    c.log_retention_bytes = static_cast<std::size_t>(*v);
  }
  if (auto v = ulog.read_int("retention_seconds", 1, max_retention_seconds, "a duration")) {
    c.log_retention_age = std::chrono::seconds(*v);
  }
  ulog.finish();

  auto broadcast = top.section("broadcast");
  broadcast.read("uri", c.broadcast_uri);
  broadcast.read("key_prefix", c.broadcast_key_prefix);
  if (auto v = broadcast.read_int("retained_updates", 1000, 1'000'000'000, "an update count")) {
    c.broadcast_retained_updates = static_cast<std::size_t>(*v);
  }
  if (auto v = broadcast.read_int("timeout_ms", 50, max_seconds * 1000, "a timeout")) {
    c.broadcast_timeout = std::chrono::milliseconds(*v);
  }
  if (auto v = broadcast.read_int("min_replicas", 0, max_min_replicas, "a replica count")) {
    c.broadcast_min_replicas = static_cast<int>(*v);
  }
  if (auto v = broadcast.read_int("min_replicas_timeout_ms", 10, max_min_replicas_timeout_ms,
                                  "a timeout")) {
    c.broadcast_min_replicas_timeout = std::chrono::milliseconds(*v);
  }
  broadcast.finish();

  auto fetch = top.section("fetch");
  detail::read_rule_list(fetch, "allow", c.fetch_allow);
  detail::read_rule_list(fetch, "deny", c.fetch_deny);
  fetch.finish();

  auto policy = top.section("policy");
  policy.read("dir", c.policy_dir);
  if (auto v = policy.read_int("rescan_interval_ms", 100, max_seconds * 1000, "an interval")) {
    c.policy_rescan_interval = std::chrono::milliseconds(*v);
  }
  if (auto v = policy.read_int("max_file_bytes", 1, max_size, "a size in bytes")) {
    c.policy_max_file_bytes = static_cast<std::size_t>(*v);
  }
  if (auto v = policy.read_int("max_total_bytes", 1, max_size, "a size in bytes")) {
    c.policy_max_total_bytes = static_cast<std::size_t>(*v);
  }
  if (auto v = policy.read_int("max_files", 1, 1'000'000, "a file count")) {
    c.policy_max_files = static_cast<std::size_t>(*v);
  }
  policy.finish();

  auto log = top.section("log");
  detail::read_log_settings(log, c.log_level, c.log_format);
  log.finish();

  top.finish();
}

void read_env(const env_reader& env, server_config& c) {
  env.read("OPAL_SERVER_HOST", c.host);
  // OPAL_SERVER_PORT is OPAL's deprecated alias, but Kubernetes also injects it as
  // "tcp://10.0.0.1:7002" for a Service named opal-server: only a plain number is ours.
  if (auto v = env.get("OPAL_SERVER_PORT"); v && v->find("://") == std::string::npos &&
                                             !env.get("OPAL_SERVER_BIND_PORT")) {
    if (auto p = env.read_int("OPAL_SERVER_PORT", 0, 65535, "a port")) {
      c.port = static_cast<std::uint16_t>(*p);
    }
  }
  if (auto p = env.read_int("OPAL_SERVER_BIND_PORT", 0, 65535, "a port")) {
    c.port = static_cast<std::uint16_t>(*p);
  }

  env.read("OPAL_SERVER_DATA_DIR", c.data_dir);
  env.read("OPAL_SERVER_PUBLIC_URL", c.public_url);
  env.read("OPAL_BLOBS_DIR", c.blobs_dir);
  if (auto v = env.get("OPAL_DATA_FETCHED_BY_DEFAULT")) {
    read_fetched_by(
        *v, [&](std::string m) { env.add_problem("OPAL_DATA_FETCHED_BY_DEFAULT", std::move(m)); },
        c.fetched_by_default);
  }
  env.read("OPAL_SERVER_TLS_CERT_FILE", c.tls.cert_file);
  env.read("OPAL_SERVER_TLS_KEY_FILE", c.tls.key_file);
  env.read("OPAL_SERVER_TLS_CLIENT_CA_FILE", c.tls.client_ca_file);
  if (auto v = env.get("OPAL_SERVER_LOG_FSYNC")) {
    read_fsync(*v, [&](std::string m) { env.add_problem("OPAL_SERVER_LOG_FSYNC", std::move(m)); },
               c.log_fsync);
  }

  env.read("OPAL_AUTH_ENABLED", c.auth_enabled);
  env.read("OPAL_AUTH_MASTER_TOKEN", c.master_token);
  env.read("OPAL_AUTH_PRIVATE_KEY", c.private_key);
  read_key_format(env, "OPAL_AUTH_PRIVATE_KEY_FORMAT", c.private_key_format);
  env.read("OPAL_AUTH_PRIVATE_KEY_PASSPHRASE", c.private_key_passphrase);
  env.read("OPAL_AUTH_PUBLIC_KEY", c.public_key);
  read_key_format(env, "OPAL_AUTH_PUBLIC_KEY_FORMAT", c.public_key_format);
  env.read("OPAL_AUTH_JWT_AUDIENCE", c.jwt_audience);
  env.read("OPAL_AUTH_JWT_ISSUER", c.jwt_issuer);
  if (auto alg = env.get("OPAL_AUTH_JWT_ALGORITHM"); alg && *alg != "RS256") {
    env.add_problem("OPAL_AUTH_JWT_ALGORITHM", "'" + *alg + "' is not supported (only RS256)");
  }

  if (auto v = env.get("OPAL_DATA_CONFIG_SOURCES")) {
    try {
      apply_sources(c, detail::parse_data_sources_text(*v));
    } catch (const model::invalid_input& e) {
      env.add_problem("OPAL_DATA_CONFIG_SOURCES", e.what());
    }
  }
  if (auto v = env.get("OPAL_DATA_CONFIG_ROUTE")) {
    if (v->front() != '/') {
      env.add_problem("OPAL_DATA_CONFIG_ROUTE", "must start with '/'");
    } else {
      c.data_config_route = *v;
    }
  }
  bool publisher = true;
  env.read("OPAL_PUBLISHER_ENABLED", publisher);
  if (!publisher) {
    env.add_problem("OPAL_PUBLISHER_ENABLED",
                    "false is not supported: publishing is always on here, guarded by "
                    "datasource tokens (remove the variable, and mint no datasource tokens)");
  }
  env.read("OPAL_BROADCAST_URI", c.broadcast_uri);
  env.read("OPAL_BROADCAST_CHANNEL_NAME", c.broadcast_key_prefix);
  if (auto v = env.read_int("OPAL_BROADCAST_MIN_REPLICAS", 0, max_min_replicas,
                            "a replica count")) {
    c.broadcast_min_replicas = static_cast<int>(*v);
  }
  if (auto v = env.read_int("OPAL_BROADCAST_MIN_REPLICAS_TIMEOUT_MS", 10,
                            max_min_replicas_timeout_ms, "a timeout")) {
    c.broadcast_min_replicas_timeout = std::chrono::milliseconds(*v);
  }
  detail::read_rule_list(env, "OPAL_FETCH_ALLOW", c.fetch_allow);
  detail::read_rule_list(env, "OPAL_FETCH_DENY", c.fetch_deny);
  env.read("OPAL_POLICY_DIR", c.policy_dir);
  detail::read_log_settings(env, c.log_level, c.log_format);
}

/** The Redis backbone's settings, checked together (the URI's password never in a message). */
void check_broadcast(const server_config& c, const env_reader& env,
                     std::vector<problem>& problems) {
  const auto where = [&](const char* yaml_key, const char* var) {
    return env.get(var) ? "env " + std::string(var) : "broadcast." + std::string(yaml_key);
  };
  const auto& prefix = c.broadcast_key_prefix;
  const bool prefix_ok =
      !prefix.empty() && prefix.size() <= 64 &&
      prefix.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:") ==
          std::string::npos;
  if (!prefix_ok) {
    problems.push_back({where("key_prefix", "OPAL_BROADCAST_CHANNEL_NAME"),
                        "must be 1 to 64 characters from A-Z a-z 0-9 _ - . :"});
  }
  if (c.broadcast_uri.empty()) {
    if (c.broadcast_min_replicas > 0) {
      problems.push_back({where("min_replicas", "OPAL_BROADCAST_MIN_REPLICAS"),
                          "counts Redis replicas: it needs broadcast.uri (OPAL_BROADCAST_URI)"});
    }
    return;
  }
  try {
    (void)redis::parse_uri(c.broadcast_uri.reveal());
  } catch (const std::invalid_argument& e) {
    problems.push_back({where("uri", "OPAL_BROADCAST_URI"), e.what()});
    return;
  }
  if (!c.data_dir.empty()) {
    problems.push_back({where("uri", "OPAL_BROADCAST_URI"),
                        "with Redis the update log lives in Redis: leave server.data_dir "
                        "(OPAL_SERVER_DATA_DIR, --data-dir) empty"});
  }
}

/** Loads the TLS files the way the listener will, so a bad file stops startup with its name. */
void check_tls(const server_config& c, const env_reader& env, std::vector<problem>& problems) {
  if (!c.tls.enabled() && c.tls.client_ca_file.empty()) {
    return;
  }
  auto where = [&](const char* yaml_key, const char* var) {
    return env.get(var) ? "env " + std::string(var) : "server.tls." + std::string(yaml_key);
  };
  if (!c.tls.enabled()) {
    problems.push_back({where("client_ca_file", "OPAL_SERVER_TLS_CLIENT_CA_FILE"),
                        "a client CA needs TLS: set cert_file and key_file too"});
    return;
  }
  try {
    tls::context::server(c.tls);
  } catch (const tls::tls_error& e) {
    using f = tls::tls_error::file;
    const bool cert = e.which() == f::cert || e.which() == f::none;
    problems.push_back({e.which() == f::ca ? where("client_ca_file", "OPAL_SERVER_TLS_CLIENT_CA_FILE")
                        : cert             ? where("cert_file", "OPAL_SERVER_TLS_CERT_FILE")
                                           : where("key_file", "OPAL_SERVER_TLS_KEY_FILE"),
                        e.what()});
  }
}

}  // namespace

std::string_view to_string(fsync_policy p) {
  switch (p) {
    case fsync_policy::always: return "always";
    case fsync_policy::interval: return "interval";
    case fsync_policy::never: return "never";
  }
  return "always";
}

std::optional<std::string> policy_dir_problem(const std::string& dir) {
  if (dir.empty()) {
    return std::nullopt;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return "'" + dir + "' is not a directory" + (ec ? " (" + ec.message() + ")" : "");
  }
  return std::nullopt;
}

env_map process_env() {
  env_map env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) {
      env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
  }
  return env;
}

server_config load_server_config(const std::string& yaml_path, const env_map& env) {
  std::vector<problem> problems;
  server_config c;
  read_yaml(detail::load_yaml_file(yaml_path, problems), c, problems);
  env_reader reader(env, problems);
  read_env(reader, c);
  check_tls(c, reader, problems);
  check_broadcast(c, reader, problems);
  if (c.host.empty()) {
    problems.push_back({"server.host", "must not be empty"});
  }
  while (c.public_url.size() > 1 && c.public_url.back() == '/') {
    c.public_url.pop_back();
  }
  if (auto why = public_url_problem(c.public_url)) {
    problems.push_back(
        {reader.get("OPAL_SERVER_PUBLIC_URL") ? "env OPAL_SERVER_PUBLIC_URL" : "server.public_url",
         *why});
  }
  if (c.blobs_max_blob_bytes > c.blobs_max_bytes) {
    problems.push_back({"blobs.max_blob_bytes", "is larger than blobs.max_bytes"});
  }
  if (auto why = policy_dir_problem(c.policy_dir)) {
    problems.push_back({reader.get("OPAL_POLICY_DIR") ? "env OPAL_POLICY_DIR" : "policy.dir", *why});
  }
  if (!problems.empty()) {
    throw config_error(std::move(problems));
  }
  for (const auto& name : reader.unread_opal_variables()) {
    if (!detail::is_kubernetes_service_link(name, env.at(name))) {
      c.ignored_env.push_back(name + ": " + detail::why_the_server_ignores(name));
    }
  }
  return c;
}

}  // namespace pdl::config
