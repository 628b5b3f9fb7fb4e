#include "shared/config/agent_config.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iterator>

#include <nlohmann/json.hpp>

#include "shared/config/config_error.hpp"
#include "shared/config/env_reader.hpp"
#include "shared/config/opal_settings.hpp"
#include "shared/config/source_rule_lists.hpp"
#include "shared/config/yaml_section.hpp"

namespace pdl::config {
namespace {

using detail::env_reader;
using detail::yaml_section;

constexpr std::int64_t max_ms = 24 * 3600 * 1000;
constexpr std::int64_t max_size = std::int64_t{1} << 40;

void read_ms(yaml_section& s, const char* key, std::chrono::milliseconds& out) {
  if (auto v = s.read_int(key, 1, max_ms, "a duration in milliseconds")) {
    out = std::chrono::milliseconds(*v);
  }
}

void check_urls(yaml_section& s, const char* key, const std::vector<std::string>& urls) {
  for (const auto& u : urls) {
    if (auto problem = detail::http_url_problem(u)) {
      s.add_problem(key, *problem);
    }
  }
}

void read_auth_type(std::string value, std::string& out,
                    const std::function<void(std::string)>& report) {
  value = detail::to_lower(value);
  if (value == "none" || value == "token" || value == "tls") {
    out = value;
  } else if (value == "oauth") {
    report("'" + value + "' is not supported yet (none, token or tls)");
  } else {
    report("'" + value + "' is not an auth type (none, token or tls)");
  }
}

void read_yaml(const YAML::Node& root, agent_config& c, std::vector<problem>& problems) {
  yaml_section top(root, "", problems);

  auto server = top.section("server");
  std::vector<std::string> urls;
  const auto before = problems.size();
  server.read("url", urls);
  if (server.raw("url") && problems.size() == before) {
    if (urls.empty()) {
      server.add_problem("url", "at least one server URL is needed");
    } else {
      check_urls(server, "url", urls);
      c.server_urls = urls;
    }
  }
  server.read("token", c.client_token);
  server.read("data_config_url", c.data_config_url);
  if (!c.data_config_url.empty()) {
    check_urls(server, "data_config_url", {c.data_config_url});
  }
  read_ms(server, "reconnect_min_ms", c.reconnect_min);
  read_ms(server, "reconnect_max_ms", c.reconnect_max);
  if (auto v = server.read_int("ping_interval_seconds", 0, 24 * 3600, "an interval")) {
    c.ws_ping_interval = std::chrono::seconds(*v);
  }
  if (auto v = server.read_int("max_message_bytes", 1, max_size, "a size in bytes")) {
    c.ws_max_message_bytes = static_cast<std::size_t>(*v);
  }
  server.finish();

  auto data = top.section("data");
  std::vector<std::string> topics;
  const auto topics_before = problems.size();
  data.read("topics", topics);
  if (data.raw("topics") && problems.size() == topics_before) {
    if (topics.empty()) {
      data.add_problem("topics", "at least one topic is needed");
    } else {
      c.data_topics = topics;
    }
  }
  data.finish();

  auto store = top.section("policy_store");
  store.read("url", c.policy_store_url);
  std::string auth_type;
  store.read("auth_type", auth_type);
  if (!auth_type.empty()) {
    read_auth_type(auth_type, c.policy_store_auth_type,
                   [&](std::string m) { store.add_problem("auth_type", std::move(m)); });
  }
  store.read("auth_token", c.policy_store_auth_token);
  read_ms(store, "timeout_ms", c.store_timeout);
  store.read("tls_ca", c.policy_store_tls.ca_file);
  store.read("tls_client_cert", c.policy_store_tls.cert_file);
  store.read("tls_client_key", c.policy_store_tls.key_file);
  store.finish();

  auto tls = top.section("tls");
  tls.read("ca_file", c.tls.ca_file);
  tls.read("client_cert", c.tls.cert_file);
  tls.read("client_key", c.tls.key_file);
  tls.finish();

  auto fetch = top.section("fetch");
  read_ms(fetch, "connect_timeout_ms", c.fetch_connect_timeout);
  read_ms(fetch, "idle_timeout_ms", c.fetch_idle_timeout);
  if (auto v = fetch.read_int("total_timeout_ms", 0, max_ms, "a duration in milliseconds")) {
    c.fetch_total_timeout = std::chrono::milliseconds(*v);
  }
  if (auto v = fetch.read_int("low_speed_limit", 0, max_size, "a rate in bytes per second")) {
    c.fetch_low_speed_limit = static_cast<std::uint64_t>(*v);
  }
  read_ms(fetch, "low_speed_time_ms", c.fetch_low_speed_time);
  if (auto v = fetch.read_int("max_bytes", 1, max_size, "a size in bytes")) {
    c.fetch_max_bytes = static_cast<std::uint64_t>(*v);
  }
  if (auto v = fetch.read_int("max_redirects", 0, 20, "a redirect count")) {
    c.fetch_max_redirects = static_cast<int>(*v);
  }
  if (auto v = fetch.read_int("workers", 1, 64, "a worker count")) {
    c.fetch_workers = static_cast<int>(*v);
  }
  if (auto v = fetch.read_int("max_in_flight", 1, 100000, "an entry count")) {
    c.fetch_max_in_flight = static_cast<int>(*v);
  }
  if (auto v = fetch.read_int("max_per_host", 0, 1000, "a connection count")) {
    c.fetch_max_per_host = static_cast<int>(*v);
  }
  if (auto v = fetch.read_int("degraded_after_ms", 0, max_ms, "a duration in milliseconds")) {
    c.fetch_degraded_after = std::chrono::milliseconds(*v);
  }
  if (fetch.raw("proxy")) {
    std::string proxy;
    fetch.read("proxy", proxy);
    const auto scheme = proxy.substr(0, proxy.find("://"));
    static const char* const schemes[] = {"http", "https", "socks4", "socks4a", "socks5",
                                          "socks5h"};
    if (!proxy.empty() &&
        (proxy.find("://") == std::string::npos ||
         std::none_of(std::begin(schemes), std::end(schemes),
                      [&](const char* s) { return scheme == s; }))) {
      fetch.add_problem("proxy", "expected a proxy URL (http://, https://, socks4://, socks5://, "
                                 "socks5h://) or \"\" for none");
    } else {
      c.fetch_proxy = proxy;
    }
  }
  if (fetch.raw("no_proxy")) {
    std::string no_proxy;
    fetch.read("no_proxy", no_proxy);
    c.fetch_no_proxy = no_proxy;
  }
  fetch.read("temp_dir", c.temp_dir);
  detail::read_rule_list(fetch, "allow", c.fetch_allow);
  detail::read_rule_list(fetch, "deny", c.fetch_deny);
  fetch.read("secrets_dir", c.fetch_secrets_dir);
  fetch.finish();

  auto api = top.section("api");
  api.read("host", c.api_host);
  if (auto v = api.read_int("port", 0, 65535, "a port")) {
    c.api_port = static_cast<std::uint16_t>(*v);
  }
  api.finish();

  auto log = top.section("log");
  detail::read_log_settings(log, c.log_level, c.log_format);
  log.finish();

  auto agent = top.section("agent");
  agent.read("data_dir", c.data_dir);
  agent.read("ready_when_stale", c.ready_when_stale);
  read_ms(agent, "marker_check_interval_ms", c.marker_interval);
  agent.finish();

  auto retry = top.section("retry");
  if (auto v = retry.read_int("attempts", 1, 100, "a number of attempts")) {
    c.retry_attempts = static_cast<int>(*v);
  }
  read_ms(retry, "base_ms", c.retry_base);
  read_ms(retry, "max_ms", c.retry_max);
  retry.finish();

  auto limits = top.section("limits");
  if (auto v = limits.read_int("queue_bytes", 64 * 1024, max_size, "a size in bytes")) {
    c.queue_bytes = static_cast<std::size_t>(*v);
  }
  limits.finish();

  auto reports = top.section("reports");
  reports.read("enabled", c.report_on_updates);
  std::vector<std::string> callbacks;
  const auto callbacks_before = problems.size();
  reports.read("callbacks", callbacks);
  if (problems.size() == callbacks_before) {
    check_urls(reports, "callbacks", callbacks);
    c.report_callbacks = callbacks;
  }
  reports.finish();

  top.finish();
}

/** OPAL_DATA_UPDATER_CONN_RETRY: {"wait_strategy":..,"max_wait":s,"attempts":n,"wait_time":s}. */
void read_retry_env(const env_reader& env, agent_config& c) {
  const char* name = "OPAL_DATA_UPDATER_CONN_RETRY";
  const auto* v = env.get(name);
  if (v == nullptr) {
    return;
  }
  const auto j = nlohmann::json::parse(*v, nullptr, false);
  if (!j.is_object()) {
    env.add_problem(name, R"(expected a JSON object like {"attempts":5,"wait_time":1,"max_wait":10})");
    return;
  }
  const auto seconds = [&](const char* key, std::chrono::milliseconds& out) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      return;
    }
    if (!it->is_number() || it->get<double>() <= 0 || it->get<double>() > 24 * 3600) {
      env.add_problem(name, std::string(key) + ": expected a number of seconds > 0");
      return;
    }
    out = std::chrono::milliseconds(static_cast<std::int64_t>(it->get<double>() * 1000));
  };
  if (const auto it = j.find("attempts"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 100) {
      env.add_problem(name, "attempts: expected an integer from 1 to 100");
    } else {
      c.retry_attempts = static_cast<int>(it->get<std::int64_t>());
    }
  }
  seconds("wait_time", c.retry_base);
  seconds("max_wait", c.retry_max);
}

/** OPAL_DEFAULT_UPDATE_CALLBACKS: {"callbacks":["url", ...]}. */
void read_callbacks_env(const env_reader& env, agent_config& c) {
  const char* name = "OPAL_DEFAULT_UPDATE_CALLBACKS";
  const auto* v = env.get(name);
  if (v == nullptr) {
    return;
  }
  const auto j = nlohmann::json::parse(*v, nullptr, false);
  const auto list = j.is_object() ? j.find("callbacks") : j.end();
  if (!j.is_object() || list == j.end() || !list->is_array()) {
    env.add_problem(name, R"(expected a JSON object like {"callbacks":["http://host/path"]})");
    return;
  }
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto& item = (*list)[i];
    if (!item.is_string()) {
      env.add_problem(name, "callbacks[" + std::to_string(i) +
                                "]: expected a URL string ([url, config] pairs are not supported "
                                "here; put headers in the update's own callbacks)");
      return;
    }
    const auto url = item.get<std::string>();
    if (auto problem = detail::http_url_problem(url)) {
      env.add_problem(name, "callbacks[" + std::to_string(i) + "]: " + *problem);
      return;
    }
    urls.push_back(url);
  }
  c.report_callbacks = std::move(urls);
}

void read_env(const env_reader& env, agent_config& c) {
  if (env.get("OPAL_SERVER_URL")) {
    std::vector<std::string> urls;
    env.read("OPAL_SERVER_URL", urls);
    bool ok = !urls.empty();
    for (const auto& u : urls) {
      if (auto problem = detail::http_url_problem(u)) {
        env.add_problem("OPAL_SERVER_URL", *problem);
        ok = false;
      }
    }
    if (ok) {
      c.server_urls = urls;
    }
  }
  env.read("OPAL_CLIENT_TOKEN", c.client_token);
  if (auto v = env.get("OPAL_DEFAULT_DATA_SOURCES_CONFIG_URL")) {
    if (auto problem = detail::http_url_problem(*v)) {
      env.add_problem("OPAL_DEFAULT_DATA_SOURCES_CONFIG_URL", *problem);
    } else {
      c.data_config_url = *v;
    }
  }
  env.read("OPAL_DATA_TOPICS", c.data_topics);
  if (auto v = env.read_seconds("OPAL_KEEP_ALIVE_INTERVAL", true)) {
    c.ws_ping_interval = std::chrono::ceil<std::chrono::seconds>(*v);
  }

  if (auto v = env.get("OPAL_POLICY_STORE_URL")) {
    if (auto problem = detail::http_url_problem(*v)) {
      env.add_problem("OPAL_POLICY_STORE_URL", *problem);
    } else {
      c.policy_store_url = *v;
    }
  }
  if (auto v = env.get("OPAL_POLICY_STORE_AUTH_TYPE")) {
    read_auth_type(*v, c.policy_store_auth_type, [&](std::string m) {
      env.add_problem("OPAL_POLICY_STORE_AUTH_TYPE", std::move(m));
    });
  }
  env.read("OPAL_POLICY_STORE_AUTH_TOKEN", c.policy_store_auth_token);
  env.read("OPAL_POLICY_STORE_TLS_CA", c.policy_store_tls.ca_file);
  env.read("OPAL_POLICY_STORE_TLS_CLIENT_CERT", c.policy_store_tls.cert_file);
  env.read("OPAL_POLICY_STORE_TLS_CLIENT_KEY", c.policy_store_tls.key_file);
  env.read("OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE", c.tls.ca_file);
  env.read("OPAL_CLIENT_TLS_CLIENT_CERT", c.tls.cert_file);
  env.read("OPAL_CLIENT_TLS_CLIENT_KEY", c.tls.key_file);
  // OPAL reads the CA file only when this is true; we use it whenever it is set, so the
  // switch is only checked for being a boolean.
  bool self_signed_allowed = false;
  env.read("OPAL_CLIENT_SELF_SIGNED_CERTIFICATES_ALLOWED", self_signed_allowed);

  if (auto v = env.read_seconds("OPAL_HTTP_FETCHER_TIMEOUT", false)) {
    c.fetch_idle_timeout = *v;
  }
  if (auto v = env.read_int("OPAL_FETCHING_WORKER_COUNT", 1, 64, "a worker count")) {
    c.fetch_workers = static_cast<int>(*v);
  }
  detail::read_rule_list(env, "OPAL_FETCH_ALLOW", c.fetch_allow);
  detail::read_rule_list(env, "OPAL_FETCH_DENY", c.fetch_deny);
  env.read("OPAL_FETCH_SECRETS_DIR", c.fetch_secrets_dir);

  env.read("OPAL_CLIENT_API_SERVER_HOST", c.api_host);
  if (auto v = env.read_int("OPAL_CLIENT_API_SERVER_PORT", 0, 65535, "a port")) {
    c.api_port = static_cast<std::uint16_t>(*v);
  }
  detail::read_log_settings(env, c.log_level, c.log_format);

  env.read("OPAL_CLIENT_DATA_DIR", c.data_dir);
  env.read("OPAL_CLIENT_READY_WHEN_STALE", c.ready_when_stale);
  read_retry_env(env, c);
  env.read("OPAL_SHOULD_REPORT_ON_DATA_UPDATES", c.report_on_updates);
  read_callbacks_env(env, c);
}

struct tls_names {
  const char* yaml[3];  // ca, cert, key
  const char* env[3];
};

/** Loads one hop's TLS files the way the agent will, naming the key or variable at fault. */
void check_tls(const tls::client_files& files, const tls_names& names, const env_map& env,
               std::vector<problem>& problems) {
  if (files == tls::client_files{}) {
    return;
  }
  try {
    tls::context::client(files);
  } catch (const tls::tls_error& e) {
    using f = tls::tls_error::file;
    const int i = e.which() == f::ca ? 0 : e.which() == f::key ? 2 : 1;
    const auto it = env.find(names.env[i]);
    const bool from_env = it != env.end() && !it->second.empty();
    problems.push_back({from_env ? "env " + std::string(names.env[i]) : names.yaml[i], e.what()});
  }
}

/** Rules that span fields, checked on the merged result. */
void cross_check(const agent_config& c, const env_map& env, std::vector<problem>& problems) {
  check_tls(c.tls,
            {{"tls.ca_file", "tls.client_cert", "tls.client_key"},
             {"OPAL_CLIENT_SSL_CONTEXT_TRUSTED_CA_FILE", "OPAL_CLIENT_TLS_CLIENT_CERT",
              "OPAL_CLIENT_TLS_CLIENT_KEY"}},
            env, problems);
  check_tls(c.policy_store_tls,
            {{"policy_store.tls_ca", "policy_store.tls_client_cert", "policy_store.tls_client_key"},
             {"OPAL_POLICY_STORE_TLS_CA", "OPAL_POLICY_STORE_TLS_CLIENT_CERT",
              "OPAL_POLICY_STORE_TLS_CLIENT_KEY"}},
            env, problems);
  if (c.policy_store_auth_type == "tls" && c.policy_store_tls.cert_file.empty()) {
    problems.push_back({"policy_store.tls_client_cert",
                        "auth_type is tls but no client certificate is set "
                        "(policy_store.tls_client_cert or OPAL_POLICY_STORE_TLS_CLIENT_CERT)"});
  }
  if (c.reconnect_max < c.reconnect_min) {
    problems.push_back({"server.reconnect_max_ms", "must be >= server.reconnect_min_ms"});
  }
  if (auto problem = detail::http_url_problem(c.policy_store_url)) {
    problems.push_back({"policy_store.url", *problem});
  }
  if (c.policy_store_auth_type == "token" && c.policy_store_auth_token.empty()) {
    problems.push_back({"policy_store.auth_token",
                        "auth_type is token but no token is set (policy_store.auth_token or "
                        "OPAL_POLICY_STORE_AUTH_TOKEN)"});
  }
  for (std::size_t i = 0; i < c.data_topics.size(); ++i) {
    if (c.data_topics[i].empty()) {
      problems.push_back({"data.topics[" + std::to_string(i) + "]", "must not be empty"});
    }
  }
  if (c.api_host.empty()) {
    problems.push_back({"api.host", "must not be empty"});
  }
  if (c.retry_max < c.retry_base) {
    problems.push_back({"retry.max_ms", "must be >= retry.base_ms"});
  }
  if (std::error_code ec; !c.fetch_secrets_dir.empty() &&
                          !std::filesystem::is_directory(c.fetch_secrets_dir, ec)) {
    const bool from_env = env.count("OPAL_FETCH_SECRETS_DIR") != 0;
    problems.push_back({from_env ? "env OPAL_FETCH_SECRETS_DIR" : "fetch.secrets_dir",
                        "'" + c.fetch_secrets_dir + "' is not a directory"});
  }
}

}  // namespace

agent_config load_agent_config(const std::string& yaml_path, const env_map& env) {
  std::vector<problem> problems;
  agent_config c;
  read_yaml(detail::load_yaml_file(yaml_path, problems), c, problems);
  env_reader reader(env, problems);
  read_env(reader, c);
  cross_check(c, env, problems);
  if (!problems.empty()) {
    throw config_error(std::move(problems));
  }
  for (const auto& name : reader.unread_opal_variables()) {
    if (!detail::is_kubernetes_service_link(name, env.at(name)) &&
        !detail::is_agent_secret_variable(name)) {
      c.ignored_env.push_back(name + ": " + detail::why_the_agent_ignores(name));
    }
  }
  return c;
}

}  // namespace pdl::config
