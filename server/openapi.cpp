#include "server/openapi.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "server/version.hpp"

namespace pdl::server {
namespace {

using nlohmann::json;

json ref(std::string_view name) {
  return {{"$ref", "#/components/schemas/" + std::string(name)}};
}

json str() { return {{"type", "string"}}; }
json nullable(json j) {
  j["nullable"] = true;
  return j;
}
json str_list() { return {{"type", "array"}, {"items", str()}}; }

json schemas() {
  json s;
  s["Status"] = {{"type", "object"}, {"properties", {{"status", str()}}}};
  s["ErrorDetail"] = {
      {"type", "object"},
      {"description", "Refusal: {\"detail\":{\"error\":...}} (404/405: {\"detail\":\"...\"})"},
      {"properties",
       {{"detail", {{"type", "object"}, {"properties", {{"error", str()}}}}}}}};
  s["ValidationError"] = {
      {"type", "object"},
      {"properties",
       {{"detail",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"loc", {{"type", "array"}, {"items", json::object()}}},
              {"msg", str()},
              {"type", str()}}}}}}},
        {"error", str()}}}};
  s["AccessTokenRequest"] = {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}, {"format", "uuid"}}},
        {"type", {{"type", "string"}, {"enum", {"client", "datasource", "listener"}}}},
        {"ttl", {{"description", "seconds, ISO-8601 duration or [D ]HH:MM:SS"}}},
        {"claims", {{"type", "object"}}}}}};
  s["AccessToken"] = {
      {"type", "object"},
      {"properties",
       {{"token", str()},
        {"type", {{"type", "string"}, {"enum", {"bearer"}}}},
        {"details",
         {{"type", "object"},
          {"properties",
           {{"id", str()}, {"type", str()}, {"expired", str()}, {"claims", {{"type", "object"}}}}}}}}}};
  s["JWKS"] = {{"type", "object"},
               {"properties", {{"keys", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
  s["JSONPatchAction"] = {
      {"type", "object"},
      {"required", {"op", "path"}},
      {"properties",
       {{"op", {{"type", "string"}, {"enum", {"add", "remove", "replace"}}}},
        {"path", str()},
        {"value", json::object()}}}};
  json entry_props = {{"url", str()},
                      {"config", nullable({{"type", "object"}})},
                      {"topics", str_list()},
                      {"dst_path", str()},
                      {"save_method", {{"type", "string"}, {"enum", {"PUT", "PATCH"}}}},
                      {"data", nullable(json::object())}};
  s["DataSourceEntry"] = {{"type", "object"}, {"properties", entry_props}};
  json with_interval = entry_props;
  with_interval["periodic_update_interval"] = nullable({{"type", "number"}});
  s["DataSourceEntryWithPollingInterval"] = {{"type", "object"}, {"properties", with_interval}};
  s["DataSourceConfig"] = {
      {"type", "object"},
      {"properties",
       {{"entries", {{"type", "array"}, {"items", ref("DataSourceEntryWithPollingInterval")}}}}}};
  s["PolicyBundle"] = {
      {"type", "object"},
      {"properties",
       {{"manifest", str_list()},
        {"hash", str()},
        {"old_hash", nullable(str())},
        {"data_modules",
         {{"type", "array"},
          {"items",
           {{"type", "object"}, {"properties", {{"path", str()}, {"data", str()}}}}}}},
        {"policy_modules",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties", {{"path", str()}, {"package_name", str()}, {"rego", str()}}}}}}},
        {"deleted_files",
         nullable({{"type", "object"},
                   {"properties",
                    {{"data_modules", str_list()}, {"policy_modules", str_list()}}}})}}}};
  s["DataUpdate"] = {
      {"type", "object"},
      {"required", {"entries"}},
      {"properties",
       {{"id", nullable(str())},
        {"entries", {{"type", "array"}, {"minItems", 1}, {"items", ref("DataSourceEntry")}}},
        {"reason", nullable(str())},
        {"callback", {{"type", "object"}}},
        {"seq", {{"type", "integer"}, {"description", "server-assigned sequence (notify only)"}}}}}};
  s["PublishResult"] = {
      {"type", "object"},
      {"properties",
       {{"status", str()},
        {"id", str()},
        {"seq", {{"type", "integer"}}},
        // Only when the server fetched entries itself (fetched_by: server): one per entry.
        {"blobs",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"entry", {{"type", "integer"}}},
              {"sha256", str()},
              {"size", {{"type", "integer"}}}}}}}}}}}};
  s["DataUpdateReport"] = {
      {"type", "object"},
      {"properties",
       {{"update_id", nullable(str())}, {"reports", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
  json agent_list = str_list();
  s["UpdateStatus"] = {
      {"type", "object"},
      {"properties",
       {{"id", str()},
        {"seq", {{"type", "integer"}}},
        {"topics", str_list()},
        {"accepted_at", {{"type", "string"}, {"format", "date-time"}}},
        {"complete",
         {{"type", "boolean"},
          {"description", "true when pending is empty (with replicas: and every live replica "
                          "has reported the update)"}}},
        {"replicas",
         {{"type", "object"},
          {"description", "with replicas (broadcast.uri) only"},
          {"properties",
           {{"reported", {{"type", "integer"}}}, {"waiting", str_list()}}}}},
        {"agents",
         {{"type", "object"},
          {"properties",
           {{"subscribed", agent_list},
            {"applied", agent_list},
            {"failed",
             {{"type", "array"},
              {"items",
               {{"type", "object"},
                {"properties", {{"agent", str()}, {"errors", str_list()}}}}}}},
            {"pending", agent_list}}}}}}}};
  json opt_int = nullable({{"type", "integer"}});
  s["ServerStatsBrief"] = {
      {"type", "object"},
      {"properties",
       {{"uptime", {{"type", "string"}, {"format", "date-time"}, {"description", "start time"}}},
        {"version", str()},
        {"client_count", {{"type", "integer"}}},
        {"server_count", {{"type", "integer"}}}}}};
  s["ServerStats"] = {
      {"type", "object"},
      {"properties",
       {{"uptime", {{"type", "string"}, {"format", "date-time"}, {"description", "start time"}}},
        {"version", str()},
        {"clients",
         {{"type", "object"},
          {"description", "client id (agent id, else session id) -> its sessions"},
          {"additionalProperties",
           {{"type", "array"},
            {"items",
             {{"type", "object"},
              {"properties",
               {{"rpc_id", str()},
                {"client_id", str()},
                {"topics", str_list()},
                {"address", str()},
                {"connected_since", {{"type", "string"}, {"format", "date-time"}}},
                {"protocol", {{"type", "integer"}, {"enum", {0, 1}}}},
                {"applied_seq", opt_int},
                {"lag", opt_int}}}}}}}}},
        {"servers", str_list()},
        {"published_seq", {{"type", "integer"}}},
        {"log_id", str()},
        {"publishes_by_topic",
         {{"type", "object"},
          {"description", "accepted updates per topic (1000 topics, then \"__other__\")"},
          {"additionalProperties", {{"type", "integer"}}}}},
        {"updates",
         {{"type", "object"},
          {"properties",
           {{"accepted", {{"type", "integer"}}}, {"refused", {{"type", "integer"}}}}}}}}}};
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string build_openapi(const std::vector<route>& routes) {
  json paths = json::object();
  for (const auto& r : routes) {
    json op = {{"summary", r.doc.summary}};
    if (r.doc.bearer) {
      op["security"] = json::array({{{"bearer", json::array()}}});
    }
    if (!r.doc.request_schema.empty()) {
      op["requestBody"] = {
          {"required", true},
          {"content", {{"application/json", {{"schema", ref(r.doc.request_schema)}}}}}};
    }
    json responses = json::object();
    for (const auto& [status, schema] : r.doc.responses) {
      json resp = {{"description", schema.empty() ? "see summary" : std::string(schema)}};
      if (!schema.empty()) {
        resp["content"] = {{"application/json", {{"schema", ref(schema)}}}};
      }
      responses[std::to_string(status)] = resp;
    }
    op["responses"] = responses;
    json params = json::array();
    for (auto at = r.path.find('{'); at != std::string::npos; at = r.path.find('{', at + 1)) {
      auto end = r.path.find('}', at);
      params.push_back({{"name", r.path.substr(at + 1, end - at - 1)},
                        {"in", "path"},
                        {"required", true},
                        {"schema", str()}});
    }
    if (!params.empty()) {
      op["parameters"] = params;
    }
    paths[r.path][lower(r.method)] = op;
  }
  json doc = {{"openapi", "3.0.3"},
              {"info", {{"title", "opal-server (pdl)"}, {"version", std::string(version)}}},
              {"paths", paths},
              {"components",
               {{"schemas", schemas()},
                {"securitySchemes",
                 {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}}}}}}}};
  return doc.dump();
}

}  // namespace pdl::server
