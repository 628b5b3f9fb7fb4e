#include "tests/fakes/data_source/fake_data_source.hpp"

namespace pdl::fakes {
namespace {

http_response json_error(int status, const std::string& message) {
  return {status, "application/json", nlohmann::json{{"error", message}}.dump() + "\n", {}};
}

}  // namespace

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
    paths[path] = {{"requests", c.requests}, {"authorized", c.authorized}};
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
  auto& c = counts_[path];
  ++c.requests;
  if (!authorized(req)) {
    return json_error(401, "unauthorized");
  }
  ++c.authorized;
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
  return {200, "application/json", route->second, {}};
}

}  // namespace pdl::fakes
