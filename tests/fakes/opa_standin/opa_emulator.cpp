#include "tests/fakes/opa_standin/opa_emulator.hpp"

#include <array>
#include <cctype>
#include <random>
#include <utility>
#include <vector>

#include "tests/fakes/opa_standin/go_json.hpp"

namespace pdl::fakes {
namespace {

using nlohmann::json;
using query_values = std::multimap<std::string, std::string>;

constexpr std::string_view json_type = "application/json";

// ---- responses, byte for byte as OPA's writer package produces them ----

http_response json_ok(std::string body, int status = 200) {
  body += '\n';
  return {status, std::string(json_type), std::move(body), {}};
}

http_response json_value(const json& v, bool pretty, int status = 200) {
  return json_ok(pretty ? go_json::encode_indent(v) : go_json::encode(v), status);
}

// writer.ErrorString / writer.Error: always indented, trailing newline.
http_response api_error(int status, std::string_view code, std::string_view message) {
  json body = {{"code", code}, {"message", message}};
  return json_ok(go_json::encode_indent(body), status);
}

http_response store_failure(const store_error& e) {
  return api_error(e.http_status(), e.api_code(), e.message());
}

http_response no_content(int status = 204) { return {status, {}, {}, {}}; }

// http.NotFound.
http_response page_not_found() {
  http_response r{404, "text/plain; charset=utf-8", "404 page not found\n", {}};
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

// What Go's HTTP server answers when the request line cannot be parsed.
http_response bad_request() {
  http_response r{400, "text/plain; charset=utf-8", "400 Bad Request", {}};
  r.close = true;
  return r;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// http.Redirect (used by gorilla/mux's strict-slash handler): an HTML body for GET only.
http_response moved(const http_request& req, std::string location) {
  http_response r{301, {}, {}, {}};
  if (req.method == "GET") {
    r.content_type = "text/html; charset=utf-8";
    r.body = "<a href=\"" + html_escape(location) + "\">Moved Permanently</a>.\n\n";
  }
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

// ---- URL handling as Go's net/url, gorilla/mux and OPA's helpers do it ----

bool valid_escapes(std::string_view s) { return go_json::path_unescape(s).has_value(); }

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) {
      return out;
    }
    start = pos + 1;
  }
}

std::string_view trim_slashes(std::string_view s) {
  while (!s.empty() && s.front() == '/') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == '/') {
    s.remove_suffix(1);
  }
  return s;
}

// gorilla/mux cleanPath: path.Clean, keeping one trailing slash.
std::string clean_path(std::string_view p) {
  if (p.empty()) {
    return "/";
  }
  std::vector<std::string_view> kept;
  for (auto seg : split(p, '/')) {
    if (seg.empty() || seg == ".") {
      continue;
    }
    if (seg == "..") {
      if (!kept.empty()) {
        kept.pop_back();
      }
      continue;
    }
    kept.push_back(seg);
  }
  std::string out;
  for (auto seg : kept) {
    out += '/';
    out += seg;
  }
  if (out.empty()) {
    return "/";
  }
  if (p.back() == '/') {
    out += '/';
  }
  return out;
}

// url.ParseQuery (pairs that fail to parse are dropped, as Go reports and skips them).
query_values parse_query(std::string_view q) {
  query_values out;
  for (auto pair : split(q, '&')) {
    if (pair.empty() || pair.find(';') != std::string_view::npos) {
      continue;
    }
    auto eq = pair.find('=');
    auto key = go_json::query_unescape(pair.substr(0, eq));
    auto value = go_json::query_unescape(eq == std::string_view::npos ? std::string_view{}
                                                                      : pair.substr(eq + 1));
    if (key && value) {
      out.emplace(std::move(*key), std::move(*value));
    }
  }
  return out;
}

// OPA's getBoolParam.
bool bool_param(const query_values& q, const std::string& name, bool if_empty) {
  auto [begin, end] = q.equal_range(name);
  if (begin == end) {
    return false;
  }
  if (std::next(begin) == end && begin->second.empty()) {
    return if_empty;
  }
  for (auto it = begin; it != end; ++it) {
    std::string lower;
    for (char c : it->second) {
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower == "true") {
      return true;
    }
  }
  return false;
}

std::string unescape_or_raw(std::string_view seg) {
  auto decoded = go_json::path_unescape(seg);
  return decoded ? std::move(*decoded) : std::string(seg);
}

// OPA's stringPathToRef, as the storage path a query reads: empty segments are skipped and
// integer segments are normalised ("01" reads index or key "1").
store_path query_path(std::string_view var) {
  store_path out;
  if (var.empty()) {
    return out;
  }
  for (auto seg : split(var, '/')) {
    if (seg.empty()) {
      continue;
    }
    std::string key = unescape_or_raw(seg);
    if (auto n = go_json::atoi(key)) {
      key = std::to_string(*n);
    }
    out.push_back(std::move(key));
  }
  return out;
}

// storage.ParsePathEscaped("/" + strings.Trim(var, "/")).
store_path write_path(std::string_view var) {
  store_path out;
  auto trimmed = trim_slashes(var);
  if (trimmed.empty()) {
    return out;
  }
  for (auto seg : split(trimmed, '/')) {
    out.push_back(unescape_or_raw(seg));
  }
  return out;
}

// prepareV1PatchSlice's path construction + patch.ParsePatchPathEscaped.
store_path patch_path(std::string_view url_var, std::string_view op_path) {
  std::string root = "/" + std::string(trim_slashes(url_var));
  auto rel = trim_slashes(op_path);
  std::string full = rel.empty() ? root : (root == "/" ? root : root + "/") + std::string(rel);
  store_path out;
  if (full.size() == 1) {
    return out;
  }
  for (auto seg : split(std::string_view(full).substr(1), '/')) {
    std::string key = unescape_or_raw(seg);
    std::string unescaped;
    for (std::size_t i = 0; i < key.size(); ++i) {  // ~1 first, then ~0, as OPA replaces them
      if (key[i] == '~' && i + 1 < key.size() && key[i + 1] == '1') {
        unescaped += '/';
        ++i;
      } else {
        unescaped += key[i];
      }
    }
    key.clear();
    for (std::size_t i = 0; i < unescaped.size(); ++i) {
      if (unescaped[i] == '~' && i + 1 < unescaped.size() && unescaped[i + 1] == '0') {
        key += '~';
        ++i;
      } else {
        key += unescaped[i];
      }
    }
    out.push_back(std::move(key));
  }
  return out;
}

// A struct field lookup as encoding/json does it: exact name first, then case-insensitive.
const json* field(const json& obj, std::string_view name) {
  auto exact = obj.find(std::string(name));
  if (exact != obj.end()) {
    return &*exact;
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (iequals(it.key(), name)) {
      return &*it;
    }
  }
  return nullptr;
}

std::string type_error(const json& v, std::string_view go_type) {
  return "json: cannot unmarshal " + std::string(go_json::type_word(v)) + " into Go value of type " +
         std::string(go_type);
}

struct decoded_patch {
  std::string op;
  std::string path;
  json value;
};

// Unmarshal into []types.PatchV1: returns the Go error message, or empty on success.
std::string decode_patches(const json& body, std::vector<decoded_patch>& out) {
  if (body.is_null()) {
    return {};
  }
  if (!body.is_array()) {
    return type_error(body, "[]types.PatchV1");
  }
  for (const auto& item : body) {
    decoded_patch p;
    if (!item.is_null()) {
      if (!item.is_object()) {
        return type_error(item, "types.PatchV1");
      }
      for (const char* name : {"op", "path"}) {
        const json* f = field(item, name);
        if (f == nullptr || f->is_null()) {
          continue;
        }
        if (!f->is_string()) {
          return "json: cannot unmarshal " + std::string(go_json::type_word(*f)) +
                 " into Go struct field PatchV1." + name + " of type string";
        }
        (std::string_view(name) == "op" ? p.op : p.path) = f->get<std::string>();
      }
      if (const json* v = field(item, "value")) {
        p.value = *v;
      }
    }
    out.push_back(std::move(p));
  }
  return {};
}

bool is_write_method(std::string_view m) { return m == "PUT" || m == "PATCH" || m == "DELETE"; }

// An empty module: nothing but blank lines and comments.
bool empty_module(std::string_view text) {
  for (auto line : split(text, '\n')) {
    std::size_t i = 0;
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) {
      ++i;
    }
    if (i < line.size() && line[i] != '#') {
      return false;
    }
  }
  return true;
}

std::string random_uuid() {
  std::random_device rd;
  std::array<unsigned char, 16> b{};
  for (auto& x : b) {
    x = static_cast<unsigned char>(rd());
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0xF];
  }
  return out;
}

struct route_entry {
  std::string_view base;
  bool wildcard;  // base + "/{path:.+}"
  std::string_view methods;
  int id;
};

}  // namespace

opa_emulator::opa_emulator() : opa_emulator(options{}) {}

opa_emulator::opa_emulator(options opts)
    : fail_writes_(opts.fail_writes),
      discard_under_(std::string_view(opts.discard_data_under).substr(
          opts.discard_data_under.empty() ? 0 : 1)),
      instance_id_(random_uuid()) {}

http_response opa_emulator::handle(const http_request& req) {
  http_response res;
  try {
    res = route(req);
  } catch (const std::exception& e) {
    res = api_error(500, "internal_error", std::string("opa-standin: ") + e.what());
  }
  if (is_write_method(req.method)) {
    writes_.push_back({{"method", req.method}, {"path", std::string(req.path())},
                       {"status", res.status}});
  }
  return res;
}

http_response opa_emulator::route(const http_request& req) {
  std::string_view path = req.path();
  if (path.empty() || path.front() != '/' || !valid_escapes(path)) {
    return bad_request();
  }
  if (auto clean = clean_path(path); clean != path) {  // gorilla/mux: bare 301, no body
    http_response r{301, {}, {}, {}};
    if (req.has_query()) {
      clean += "?" + std::string(req.query());
    }
    r.headers.emplace_back("Location", std::move(clean));
    return r;
  }
  // OPA's router, in registration order; StrictSlash(true).
  static const route_entry routes[] = {
      {"/health", false, "GET", static_cast<int>(route_id::health)},
      {"/health", true, "GET", static_cast<int>(route_id::health_path)},
      {"/v1/data", true, "GET PUT PATCH POST DELETE", static_cast<int>(route_id::data_path)},
      {"/v1/data", false, "GET PUT PATCH POST", static_cast<int>(route_id::data_root)},
      {"/v1/policies", false, "GET", static_cast<int>(route_id::policies)},
      {"/v1/policies", true, "GET PUT DELETE", static_cast<int>(route_id::policy)},
      {"/v1/config", false, "GET", static_cast<int>(route_id::config)},
      {"/v1/status", false, "GET", static_cast<int>(route_id::status)},
      {"/_standin/writes", false, "GET", static_cast<int>(route_id::standin_writes)},
      {"/_standin/fail-writes", false, "POST", static_cast<int>(route_id::standin_fail_writes)},
  };
  bool path_known = false;
  for (const auto& r : routes) {
    std::string_view var;
    bool trailing_slash = false;
    if (!r.wildcard) {
      if (path == r.base) {
        trailing_slash = false;
      } else if (path.size() == r.base.size() + 1 && path.substr(0, r.base.size()) == r.base &&
                 path.back() == '/') {
        trailing_slash = true;
      } else {
        continue;
      }
    } else {
      if (path.size() <= r.base.size() + 1 || path.substr(0, r.base.size()) != r.base ||
          path[r.base.size()] != '/') {
        continue;
      }
      var = path.substr(r.base.size() + 1);
      trailing_slash = path.back() == '/';
    }
    bool method_ok = false;
    for (auto m : split(r.methods, ' ')) {
      method_ok = method_ok || m == req.method;
    }
    if (!method_ok) {
      path_known = true;
      continue;
    }
    if (trailing_slash) {
      std::string location(path.substr(0, path.size() - 1));
      if (req.has_query()) {
        location += "?" + std::string(req.query());
      }
      return moved(req, std::move(location));
    }
    return dispatch(static_cast<route_id>(r.id), req, var);
  }
  if (path_known) {
    return no_content(405);
  }
  return page_not_found();
}

http_response opa_emulator::dispatch(route_id id, const http_request& req, std::string_view var) {
  bool data_or_policy_write =
      is_write_method(req.method) &&
      (id == route_id::data_path || id == route_id::data_root || id == route_id::policy);
  if (data_or_policy_write && fail_writes_ > 0) {
    --fail_writes_;
    return api_error(500, "internal_error", "opa-standin: injected write failure");
  }
  switch (id) {
    case route_id::health:
      return json_ok("{}");
    case route_id::health_path:
      return health_path(var);
    case route_id::data_root:
    case route_id::data_path:
      if (req.method == "GET") {
        return data_get(req, var);
      }
      if (req.method == "POST") {
        return data_post(req, var);
      }
      if ((req.method == "PUT" || req.method == "PATCH") && !discard_under_.empty() &&
          var.substr(0, discard_under_.size()) == discard_under_ &&
          (var.size() == discard_under_.size() || var[discard_under_.size()] == '/')) {
        return no_content();
      }
      if (req.method == "PUT") {
        return data_put(req, var);
      }
      if (req.method == "PATCH") {
        return data_patch(req, var);
      }
      return data_delete(var);
    case route_id::policies:
      return policies_list(req);
    case route_id::policy:
      if (req.method == "GET") {
        return policy_get(var);
      }
      if (req.method == "PUT") {
        return policy_put(req, var);
      }
      return policy_delete(var);
    case route_id::config:
      return config_get(req);
    case route_id::status:
      return api_error(500, "internal_error", "status plugin not enabled");
    case route_id::standin_writes:
      return json_ok(go_json::encode(writes_));
    case route_id::standin_fail_writes:
      return standin_fail_writes(req);
  }
  return page_not_found();
}

http_response opa_emulator::data_get(const http_request& req, std::string_view var) {
  auto q = parse_query(req.query());
  bool pretty = bool_param(q, "pretty", true);
  const json* found = store_.lookup(query_path(var));
  if (found == nullptr) {
    return json_ok("{}");
  }
  if (pretty) {
    return json_value(json{{"result", *found}}, true);
  }
  return json_ok("{\"result\":" + go_json::encode(*found) + "}");
}

http_response opa_emulator::data_post(const http_request& req, std::string_view var) {
  constexpr std::string_view malformed = "body contains malformed input document: ";
  auto q = parse_query(req.query());
  bool pretty = bool_param(q, "pretty", true);
  bool has_input = false;
  auto body = go_json::decode(req.body);
  if (!body.ok && body.error != "EOF") {
    return api_error(400, "invalid_parameter", std::string(malformed) + body.error);
  }
  if (body.ok && !body.value.is_null()) {
    if (!body.value.is_object()) {
      return api_error(400, "invalid_parameter",
                       std::string(malformed) + type_error(body.value, "types.DataRequestV1"));
    }
    const json* input = field(body.value, "input");
    has_input = input != nullptr && !input->is_null();
  }
  json out = json::object();
  if (const json* found = store_.lookup(query_path(var))) {
    out["result"] = *found;
  }
  if (!has_input) {
    out["warning"] = {{"code", "api_usage_warning"},
                      {"message", "'input' key missing from the request"}};
  }
  return json_value(out, pretty);
}

http_response opa_emulator::data_put(const http_request& req, std::string_view var) {
  auto body = go_json::decode(req.body);
  if (!body.ok) {
    return api_error(400, "invalid_parameter", body.error);
  }
  const std::string* inm = req.header("If-None-Match");
  auto r = store_.put(write_path(var), std::move(body.value), inm != nullptr && *inm == "*");
  if (auto* err = std::get_if<store_error>(&r)) {
    return store_failure(*err);
  }
  return no_content(std::get<data_store::put_outcome>(r) == data_store::put_outcome::not_modified
                        ? 304
                        : 204);
}

http_response opa_emulator::data_patch(const http_request& req, std::string_view var) {
  auto body = go_json::decode(req.body);
  if (!body.ok) {
    return api_error(400, "invalid_parameter", body.error);
  }
  std::vector<decoded_patch> decoded;
  if (auto err = decode_patches(body.value, decoded); !err.empty()) {
    return api_error(400, "invalid_parameter", err);
  }
  std::vector<store_patch> ops;
  for (auto& p : decoded) {
    patch_op op;
    if (p.op == "add") {
      op = patch_op::add;
    } else if (p.op == "remove") {
      op = patch_op::remove;
    } else if (p.op == "replace") {
      op = patch_op::replace;
    } else {
      return api_error(400, "invalid_parameter", "bad patch operation: " + p.op);
    }
    ops.push_back({op, patch_path(var, p.path), std::move(p.value)});
  }
  if (auto err = store_.patch(std::move(ops))) {
    return store_failure(*err);
  }
  return no_content();
}

http_response opa_emulator::data_delete(std::string_view var) {
  if (auto err = store_.remove(write_path(var))) {
    return store_failure(*err);
  }
  return no_content();
}

http_response opa_emulator::health_path(std::string_view var) {
  store_path path{"system", "health"};
  const std::string cleaned = clean_path("/" + std::string(var));  // split() keeps views into it
  for (auto seg : split(cleaned, '/')) {
    if (!seg.empty()) {
      path.emplace_back(seg);
    }
  }
  std::string name = "data";
  for (const auto& seg : path) {
    name += "." + seg;
  }
  const json* v = store_.lookup(path);
  if (v != nullptr && v->is_boolean() && v->get<bool>()) {
    return json_ok("{}");
  }
  json body = {{"error", "health check (" + name + ") " +
                             (v == nullptr ? "was undefined" : "returned unexpected value")}};
  return json_value(body, false, 500);
}

http_response opa_emulator::policy_get(std::string_view var) {
  auto id = go_json::path_unescape(var).value_or(std::string(var));
  auto it = policies_.find(id);
  if (it == policies_.end()) {
    return api_error(404, "resource_not_found",
                     "storage_not_found_error: policy id " + go_json::quote(id));
  }
  return json_value(json{{"result", {{"id", it->first}, {"raw", it->second}}}}, false);
}

http_response opa_emulator::policy_put(const http_request& req, std::string_view var) {
  auto id = go_json::path_unescape(var).value_or(std::string(var));
  if (empty_module(req.body)) {
    return api_error(400, "invalid_parameter", id + ":0: rego_parse_error: empty module");
  }
  policies_[id] = req.body;
  return json_ok("{}");
}

http_response opa_emulator::policy_delete(std::string_view var) {
  auto id = go_json::path_unescape(var).value_or(std::string(var));
  if (policies_.erase(id) == 0) {
    return api_error(404, "resource_not_found",
                     "storage_not_found_error: policy id " + go_json::quote(id));
  }
  return json_ok("{}");
}

http_response opa_emulator::policies_list(const http_request& req) {
  json list = json::array();
  for (const auto& [id, raw] : policies_) {
    list.push_back({{"id", id}, {"raw", raw}});
  }
  return json_value(json{{"result", list}}, bool_param(parse_query(req.query()), "pretty", true));
}

http_response opa_emulator::config_get(const http_request& req) {
  json cfg = {{"result",
               {{"default_authorization_decision", "/system/authz/allow"},
                {"default_decision", "/system/main"},
                {"labels", {{"id", instance_id_}, {"version", "1.9.0"}}}}}};
  return json_value(cfg, bool_param(parse_query(req.query()), "pretty", true));
}

http_response opa_emulator::standin_fail_writes(const http_request& req) {
  auto q = parse_query(req.query());
  auto it = q.find("count");
  auto n = it == q.end() ? std::nullopt : go_json::atoi(it->second);
  if (!n || *n < 0) {
    return api_error(400, "invalid_parameter", "fail-writes needs ?count=N (N >= 0)");
  }
  fail_writes_ = static_cast<std::size_t>(*n);
  return json_ok("{}");
}

}  // namespace pdl::fakes
