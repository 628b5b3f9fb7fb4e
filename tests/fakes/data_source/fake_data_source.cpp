#include "tests/fakes/data_source/fake_data_source.hpp"

#include <optional>
#include <string_view>

namespace pdl::fakes {
namespace {

http_response json_error(int status, const std::string& message) {
  return {status, "application/json", nlohmann::json{{"error", message}}.dump() + "\n", {}};
}

// Percent-decoding of one query value ('+' is a space, as in forms); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] != '%') {
      out.push_back(in[i]);
    } else if (i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// The raw value of query parameter @p name (first occurrence), or nullopt.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// A decimal parameter in [lo, hi]; @p fallback when absent; nullopt when malformed.
std::optional<std::size_t> number_param(std::string_view query, std::string_view name,
                                        std::size_t lo, std::size_t hi,
                                        std::optional<std::size_t> fallback) {
  auto raw = query_param(query, name);
  if (!raw) {
    return fallback;
  }
  if (raw->empty() || raw->size() > 9) {
    return std::nullopt;
  }
  std::size_t n = 0;
  for (char c : *raw) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  if (n < lo || n > hi) {
    return std::nullopt;
  }
  return n;
}

}  // namespace

http_response fake_data_source::set_fault(const http_request& req, bool hang) {
  if (req.method != "POST") {
    http_response r = json_error(405, "method not allowed");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  auto count = number_param(req.query(), "count", 0, max_fault_count, std::nullopt);
  if (!count) {
    return json_error(400, "count: expected an integer 0.." + std::to_string(max_fault_count));
  }
  if (hang) {
    hang_next_ = *count;
  } else {
    auto status = number_param(req.query(), "status", 400, 599, 500);
    if (!status) {
      return json_error(400, "status: expected an integer 400..599");
    }
    fail_next_ = *count;
    fail_status_ = static_cast<int>(*status);
  }
  return {200, "application/json",
          nlohmann::json{{"fail", fail_next_}, {"hang", hang_next_}}.dump() + "\n", {}};
}

http_response fake_data_source::echo(const http_request& req) const {
  auto raw = query_param(req.query(), "json");
  if (!raw) {
    return json_error(400, "json: missing query parameter");
  }
  if (raw->size() > 3 * max_echo_bytes) {
    return json_error(400, "json: larger than " + std::to_string(max_echo_bytes) + " bytes");
  }
  auto doc = percent_decode(*raw);
  if (!doc) {
    return json_error(400, "json: bad percent-encoding");
  }
  if (doc->size() > max_echo_bytes) {
    return json_error(400, "json: larger than " + std::to_string(max_echo_bytes) + " bytes");
  }
  const bool as_is = query_param(req.query(), "raw").value_or("") == "1";
  if (!as_is && !nlohmann::json::accept(*doc)) {
    return json_error(400, "json: not valid JSON");
  }
  auto trickle = number_param(req.query(), "trickle_ms", 0, 60000, 0);
  if (!trickle) {
    return json_error(400, "trickle_ms: expected an integer 0..60000");
  }
  http_response r{200, "application/json", std::move(*doc), {}};
  r.trickle = std::chrono::milliseconds(*trickle);
  return r;
}

http_response fake_data_source::redirect(const http_request& req) const {
  auto raw = query_param(req.query(), "to");
  auto to = raw ? percent_decode(*raw) : std::nullopt;
  if (!to || (to->rfind("http://", 0) != 0 && to->rfind("https://", 0) != 0)) {
    return json_error(400, "to: expected a percent-encoded http(s) URL");
  }
  auto status = number_param(req.query(), "status", 301, 308, 302);
  if (!status || *status == 304 || *status == 305 || *status == 306) {
    return json_error(400, "status: expected 301, 302, 303, 307 or 308");
  }
  http_response r{static_cast<int>(*status), "application/json",
                  nlohmann::json{{"redirect", *to}}.dump() + "\n", {}};
  r.headers.emplace_back("Location", *to);
  return r;
}

http_response fake_data_source::set_route(const http_request& req) {
  if (req.method != "PUT") {
    http_response r = json_error(405, "method not allowed");
    r.headers.emplace_back("Allow", "PUT");
    return r;
  }
  auto raw = query_param(req.query(), "path");
  std::optional<std::string> path;
  if (raw) {
    path = percent_decode(*raw);
  }
  if (!path || path->empty() || path->front() != '/' || path->size() > 1024 ||
      path->rfind("/_source/", 0) == 0) {
    return json_error(400, "path: expected a percent-encoded /path outside /_source/");
  }
  if (req.body.size() > max_route_bytes) {
    return json_error(413, "body: larger than " + std::to_string(max_route_bytes) + " bytes");
  }
  if (!nlohmann::json::accept(req.body)) {
    return json_error(400, "body: not valid JSON");
  }
  opts_.routes[*path] = req.body;
  return {200, "application/json",
          nlohmann::json{{"path", *path}, {"bytes", req.body.size()}}.dump() + "\n", {}};
}

http_response fake_data_source::set_require(const http_request& req) {
  if (req.method != "PUT") {
    http_response r = json_error(405, "method not allowed");
    r.headers.emplace_back("Allow", "PUT");
    return r;
  }
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' ||
                          v.front() == '\r')) {
      v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n' ||
                          v.back() == '\r')) {
      v.remove_suffix(1);
    }
    return v;
  };
  const std::string_view body = trim(req.body);
  if (body.empty()) {
    opts_.require.reset();
    return {200, "application/json", R"({"required":false})" "\n", {}};
  }
  const auto colon = body.find(':');
  const std::string_view name = colon == std::string_view::npos ? std::string_view()
                                                                 : trim(body.substr(0, colon));
  if (name.empty() || body.size() > 16 * 1024) {
    return json_error(400, "body: expected \"NAME: VALUE\" (value not shown)");
  }
  opts_.require =
      required_header{std::string(name), secret(std::string(trim(body.substr(colon + 1))))};
  return {200, "application/json", R"({"required":true})" "\n", {}};
}

void fake_data_source::remember(const http_request& req, bool authorized) {
  log_.push_back({{"method", req.method}, {"target", req.target}, {"authorized", authorized}});
  if (log_.size() > max_log_entries) {
    log_.erase(log_.begin());
  }
}

nlohmann::json fake_data_source::request_log() const { return {{"requests", log_}}; }

bool fake_data_source::authorized(const http_request& req) const {
  if (!opts_.require) {
    return true;
  }
  const std::string* presented = req.header(opts_.require->name);
  if (presented == nullptr) {
    return false;
  }
  std::string_view v = *presented;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  return iequals(v, opts_.require->value.reveal());
}

nlohmann::json fake_data_source::request_counts() const {
  nlohmann::json paths = nlohmann::json::object();
  std::size_t total = 0;
  std::size_t total_authorized = 0;
  for (const auto& [path, c] : counts_) {
    paths[path] = {{"requests", c.requests}, {"authorized", c.authorized},
                   {"not_modified", c.not_modified}};
    total += c.requests;
    total_authorized += c.authorized;
  }
  return {{"paths", paths}, {"requests", total}, {"authorized", total_authorized}};
}

http_response fake_data_source::handle(const http_request& req) {
  std::string path(req.path());
  if (path == "/_source/requests" && req.method == "GET") {
    return {200, "application/json", request_counts().dump() + "\n", {}};
  }
  if (path == "/_source/fail" || path == "/_source/hang") {
    return set_fault(req, path == "/_source/hang");
  }
  if (path == "/_source/log" && req.method == "GET") {
    return {200, "application/json", request_log().dump() + "\n", {}};
  }
  if (path == "/_source/route") {
    return set_route(req);
  }
  if (path == "/_source/require") {
    return set_require(req);
  }
  auto& c = counts_[path];
  ++c.requests;
  const bool ok = authorized(req);
  remember(req, ok);
  if (!ok) {
    return json_error(401, "unauthorized");
  }
  ++c.authorized;
  if (hang_next_ > 0) {
    --hang_next_;
    http_response r;
    r.hang = true;
    return r;
  }
  if (fail_next_ > 0) {
    --fail_next_;
    return json_error(fail_status_, "injected status " + std::to_string(fail_status_));
  }
  if (path == "/echo" && (req.method == "GET" || req.method == "POST")) {
    return echo(req);
  }
  if (path == "/redirect" && (req.method == "GET" || req.method == "POST")) {
    return redirect(req);
  }
  if (opts_.hangs.count(path) != 0) {
    http_response r;
    r.hang = true;
    return r;
  }
  if (auto it = opts_.statuses.find(path); it != opts_.statuses.end()) {
    if (it->second == 204 || it->second == 304 || it->second < 200) {
      return {it->second, {}, {}, {}};
    }
    return json_error(it->second, "forced status " + std::to_string(it->second));
  }
  auto route = opts_.routes.find(path);
  if (route == opts_.routes.end()) {
    return json_error(404, "not found");
  }
  if (req.method != "GET" && req.method != "POST") {
    http_response r = json_error(405, "method not allowed");
    r.headers.emplace_back("Allow", "GET, POST");
    return r;
  }
  // A validator per document, so conditional refreshes can be tested: If-None-Match with the
  // current one is answered 304 without a body (counted as not_modified).
  const std::string etag = "\"" + std::to_string(std::hash<std::string>{}(route->second)) + "\"";
  if (const auto* inm = req.header("if-none-match"); inm != nullptr && *inm == etag) {
    ++counts_[path].not_modified;
    return {304, {}, {}, {{"ETag", etag}}};
  }
  return {200, "application/json", route->second, {{"ETag", etag}}};
}

}  // namespace pdl::fakes
