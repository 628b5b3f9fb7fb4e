#include "server/config_printer.hpp"

#include <yaml-cpp/yaml.h>

#include "server/source_policy.hpp"
#include "shared/redis/endpoint.hpp"

namespace pdl::server {
namespace {

using nlohmann::json;

json path_or_null(const std::string& path) { return path.empty() ? json(nullptr) : json(path); }

// Paths and switches only: the files themselves (keys included) are never read here.
json tls_section(const tls::server_files& files) {
  return {{"enabled", files.enabled()},
          {"cert_file", path_or_null(files.cert_file)},
          {"key_file", path_or_null(files.key_file)},
          {"client_ca_file", path_or_null(files.client_ca_file)},
          {"mtls", files.enabled() && !files.client_ca_file.empty()}};
}

json redacted(const secret& s) {
  return s.empty() ? json(nullptr) : json("<redacted>");
}

/** redis://host:port/db (or redis-sentinel://h1:p1,h2:p2/db#master), with "<redacted>" where a
 *  password was: the addresses are useful to see. */
json broadcast_uri(const config::server_config& cfg) {
  if (cfg.broadcast_uri.empty()) {
    return nullptr;
  }
  try {
    const auto ep = redis::parse_uri(cfg.broadcast_uri.reveal());
    std::string who;
    if (!ep.username.empty() || !ep.password.empty()) {
      who = ep.username + (ep.password.empty() ? "" : ":<redacted>") + "@";
    }
    if (ep.uses_sentinel()) {
      std::string hosts;
      for (const auto& s : ep.sentinels) {
        hosts += (hosts.empty() ? "" : ",") + s.describe();
      }
      return fmt::format("redis-sentinel://{}{}/{}#{}", who, hosts, ep.db, ep.master_name);
    }
    return "redis://" + who + ep.describe();
  } catch (const std::exception&) {
    return "<invalid>";
  }
}

std::string format_name(auth::key_format f) {
  switch (f) {
    case auth::key_format::pem: return "pem";
    case auth::key_format::ssh: return "ssh";
    case auth::key_format::der: return "der";
  }
  return "pem";
}

void emit(YAML::Emitter& out, const json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) {
      emit(out, v);
    }
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();
  }
}

}  // namespace

json effective_config(const config::server_config& cfg) {
  json sources;
  if (cfg.external_source_url) {
    sources = {{"external_source_url", *cfg.external_source_url}};
  } else {
    // Entry config may hold source credentials (headers): print only where data comes from.
    json entries = json::array();
    for (const auto& e : cfg.data_config_entries) {
      entries.push_back({{"url", e.url},
                         {"topics", e.topics},
                         {"dst_path", e.dst_path},
                         {"save_method", model::to_string(e.method)},
                         {"config", e.config_json ? json("<redacted>") : json(nullptr)},
                         {"data", e.data_json ? json("<inline>") : json(nullptr)},
                         {"periodic_update_interval",
                          e.periodic_update_interval ? json(*e.periodic_update_interval)
                                                     : json(nullptr)}});
    }
    sources = {{"config", {{"entries", entries}}}};
  }
  return {
      {"server",
       {{"host", cfg.host},
        {"port", cfg.port},
        {"threads", cfg.threads},
        {"publish_threads", cfg.publish_threads},
        {"data_dir", cfg.data_dir.empty() ? json(nullptr) : json(cfg.data_dir)},
        {"public_url", cfg.public_url},
        {"tls", tls_section(cfg.tls)}}},
      {"auth",
       {{"enabled", cfg.auth_enabled},
        {"master_token", redacted(cfg.master_token)},
        {"private_key", redacted(cfg.private_key)},
        {"private_key_format", format_name(cfg.private_key_format)},
        {"private_key_passphrase", redacted(cfg.private_key_passphrase)},
        {"public_key", cfg.public_key.empty() ? json(nullptr) : json("<set>")},
        {"public_key_format", format_name(cfg.public_key_format)},
        {"jwt_audience", cfg.jwt_audience},
        {"jwt_issuer", cfg.jwt_issuer}}},
      {"data",
       {{"config_sources", sources},
        {"config_route", cfg.data_config_route},
        {"fetched_by_default", std::string(model::to_string(cfg.fetched_by_default))}}},
      {"blobs",
       {{"dir", cfg.blobs_dir},
        {"max_bytes", cfg.blobs_max_bytes},
        {"max_blob_bytes", cfg.blobs_max_blob_bytes},
        {"fetch_timeout_ms", cfg.blobs_fetch_timeout.count()},
        {"url_ttl_seconds", cfg.blobs_url_ttl.count()},
        {"retention_interval_seconds", cfg.blobs_retention_interval.count()},
        {"retention_grace_seconds", cfg.blobs_retention_grace.count()}}},
      {"limits",
       {{"max_body_bytes", cfg.max_body_bytes},
        {"max_header_bytes", cfg.max_header_bytes},
        {"ws_max_message_bytes", cfg.ws_max_message_bytes},
        {"ws_send_queue", cfg.ws_send_queue_max},
        {"max_connections", cfg.max_connections},
        {"http_read_timeout_seconds", cfg.http_read_timeout.count()},
        {"ws_ping_interval_seconds", cfg.ws_ping_interval.count()},
        {"retained_updates", cfg.log_retained_updates},
        {"tracked_updates", cfg.tracked_updates},
        {"max_pending_publishes", cfg.max_pending_publishes}}},
      {"update_log",
       {{"fsync", std::string(config::to_string(cfg.log_fsync))},
        {"fsync_interval_ms", cfg.log_fsync_interval.count()},
        {"segment_bytes", cfg.log_segment_bytes},
        {"retention_bytes", cfg.log_retention_bytes},
        {"retention_seconds", cfg.log_retention_age.count()}}},
      {"broadcast",
       {{"uri", broadcast_uri(cfg)},
        {"key_prefix", cfg.broadcast_key_prefix},
        {"retained_updates", cfg.broadcast_retained_updates},
        {"timeout_ms", cfg.broadcast_timeout.count()},
        {"min_replicas", cfg.broadcast_min_replicas},
        {"min_replicas_timeout_ms", cfg.broadcast_min_replicas_timeout.count()}}},
      {"fetch",
       {{"allow", cfg.fetch_allow},
        {"deny", cfg.fetch_deny},
        {"effective_rules", server_source_rules(cfg).describe()}}},
      {"policy",
       {{"dir", cfg.policy_dir},
        {"rescan_interval_ms", cfg.policy_rescan_interval.count()},
        {"max_file_bytes", cfg.policy_max_file_bytes},
        {"max_total_bytes", cfg.policy_max_total_bytes},
        {"max_files", cfg.policy_max_files}}},
      {"log", {{"level", cfg.log_level}, {"format", cfg.log_format}}},
  };
}

std::string to_yaml(const json& doc) {
  YAML::Emitter out;
  emit(out, doc);
  return std::string(out.c_str()) + "\n";
}

}  // namespace pdl::server
