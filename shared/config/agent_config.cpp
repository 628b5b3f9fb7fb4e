#include "shared/config/agent_config.hpp"

#include <functional>

#include "shared/config/config_error.hpp"
#include "shared/config/env_reader.hpp"
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
    if (!detail::is_http_url(u)) {
      s.add_problem(key, "'" + u + "' is not an http(s) URL");
    }
  }
}

void read_auth_type(std::string value, std::string& out,
                    const std::function<void(std::string)>& report) {
  value = detail::to_lower(value);
  if (value == "none" || value == "token") {
    out = value;
  } else if (value == "oauth" || value == "tls") {
    report("'" + value + "' is not supported yet (none or token)");
  } else {
    report("'" + value + "' is not an auth type (none or token)");
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
  store.finish();

  auto fetch = top.section("fetch");
  read_ms(fetch, "connect_timeout_ms", c.fetch_connect_timeout);
  read_ms(fetch, "idle_timeout_ms", c.fetch_idle_timeout);
  if (auto v = fetch.read_int("max_bytes", 1, max_size, "a size in bytes")) {
    c.fetch_max_bytes = static_cast<std::uint64_t>(*v);
  }
  if (auto v = fetch.read_int("max_redirects", 0, 20, "a redirect count")) {
    c.fetch_max_redirects = static_cast<int>(*v);
  }
  if (auto v = fetch.read_int("workers", 1, 64, "a worker count")) {
    c.fetch_workers = static_cast<int>(*v);
  }
  fetch.read("temp_dir", c.temp_dir);
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

  top.finish();
}

void read_env(const env_reader& env, agent_config& c) {
  if (env.get("OPAL_SERVER_URL")) {
    std::vector<std::string> urls;
    env.read("OPAL_SERVER_URL", urls);
    bool ok = !urls.empty();
    for (const auto& u : urls) {
      if (!detail::is_http_url(u)) {
        env.add_problem("OPAL_SERVER_URL", "'" + u + "' is not an http(s) URL");
        ok = false;
      }
    }
    if (ok) {
      c.server_urls = urls;
    }
  }
  env.read("OPAL_CLIENT_TOKEN", c.client_token);
  if (auto v = env.get("OPAL_DEFAULT_DATA_SOURCES_CONFIG_URL")) {
    if (detail::is_http_url(*v)) {
      c.data_config_url = *v;
    } else {
      env.add_problem("OPAL_DEFAULT_DATA_SOURCES_CONFIG_URL",
                      "'" + *v + "' is not an http(s) URL");
    }
  }
  env.read("OPAL_DATA_TOPICS", c.data_topics);
  if (auto v = env.read_seconds("OPAL_KEEP_ALIVE_INTERVAL", true)) {
    c.ws_ping_interval = std::chrono::ceil<std::chrono::seconds>(*v);
  }

  if (auto v = env.get("OPAL_POLICY_STORE_URL")) {
    if (detail::is_http_url(*v)) {
      c.policy_store_url = *v;
    } else {
      env.add_problem("OPAL_POLICY_STORE_URL", "'" + *v + "' is not an http(s) URL");
    }
  }
  if (auto v = env.get("OPAL_POLICY_STORE_AUTH_TYPE")) {
    read_auth_type(*v, c.policy_store_auth_type, [&](std::string m) {
      env.add_problem("OPAL_POLICY_STORE_AUTH_TYPE", std::move(m));
    });
  }
  env.read("OPAL_POLICY_STORE_AUTH_TOKEN", c.policy_store_auth_token);

  if (auto v = env.read_seconds("OPAL_HTTP_FETCHER_TIMEOUT", false)) {
    c.fetch_idle_timeout = *v;
  }
  if (auto v = env.read_int("OPAL_FETCHING_WORKER_COUNT", 1, 64, "a worker count")) {
    c.fetch_workers = static_cast<int>(*v);
  }

  env.read("OPAL_CLIENT_API_SERVER_HOST", c.api_host);
  if (auto v = env.read_int("OPAL_CLIENT_API_SERVER_PORT", 0, 65535, "a port")) {
    c.api_port = static_cast<std::uint16_t>(*v);
  }
  detail::read_log_settings(env, c.log_level, c.log_format);
}

/** Rules that span fields, checked on the merged result. */
void cross_check(const agent_config& c, std::vector<problem>& problems) {
  if (c.reconnect_max < c.reconnect_min) {
    problems.push_back({"server.reconnect_max_ms", "must be >= server.reconnect_min_ms"});
  }
  if (!detail::is_http_url(c.policy_store_url)) {
    problems.push_back({"policy_store.url", "'" + c.policy_store_url + "' is not an http(s) URL"});
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
}

}  // namespace

agent_config load_agent_config(const std::string& yaml_path, const env_map& env) {
  std::vector<problem> problems;
  agent_config c;
  read_yaml(detail::load_yaml_file(yaml_path, problems), c, problems);
  read_env(env_reader(env, problems), c);
  cross_check(c, problems);
  if (!problems.empty()) {
    throw config_error(std::move(problems));
  }
  return c;
}

}  // namespace pdl::config
