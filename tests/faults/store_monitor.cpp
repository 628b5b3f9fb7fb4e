#include "tests/faults/store_monitor.hpp"

#include "shared/http/client.hpp"

namespace pdl::test::faults {

using nlohmann::json;

http_result http_do(const std::string& method, const std::string& url, const std::string& bearer,
                    const std::string& body, std::chrono::milliseconds idle) {
  http_client::request req;
  req.method = method;
  req.url = url;
  req.connect_timeout = std::chrono::milliseconds(1000);
  req.idle_timeout = idle;
  req.total_timeout = idle * 3;
  if (!bearer.empty()) req.headers.emplace_back("Authorization", secret("Bearer " + bearer));
  if (!body.empty() || method == "POST") {
    req.body = body;
    req.headers.emplace_back("Content-Type", secret(std::string("application/json")));
  }
  auto r = http_client::perform(req);
  http_result out;
  if (auto* ok = std::get_if<http_client::response>(&r)) {
    out.status = ok->status;
    out.body = std::move(ok->body);
  } else {
    out.transport_error = true;
    out.connect_error = std::get<http_client::transport_error>(r).what ==
                        http_client::transport_error::code::connect;
  }
  return out;
}

namespace {

void walk(const json& node, const std::string& path, std::map<std::string, std::uint64_t>& out) {
  if (!node.is_object()) return;
  if (auto it = node.find("v"); it != node.end() && it->is_number_unsigned()) {
    out[path.empty() ? "/" : path] = it->get<std::uint64_t>();
  }
  for (auto& [k, v] : node.items()) {
    if (path.empty() && k == "system") continue;
    walk(v, path + "/" + k, out);
  }
}

}  // namespace

store_monitor::store_monitor(cluster& c) : cluster_(c) {
  thread_ = std::thread([this] { run(); });
}

store_monitor::~store_monitor() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void store_monitor::agent_restarted(int i) {
  {
    std::lock_guard lk(mu_);
    last_sample_[i].clear();  // an empty sample (stand-in down) must not inherit an older one
  }
  sample(i);
  std::lock_guard lk(mu_);
  ++agent_generation_[i];
  inherited_[i] = last_sample_[i];
}

void store_monitor::sample(int i) {
  auto [port, incarnation] = cluster_.opa_endpoint(i);
  if (port == 0) return;
  auto r = http_do("GET", "http://127.0.0.1:" + std::to_string(port) + "/v1/data", {}, {},
                   std::chrono::milliseconds(2000));
  if (r.status != 200) return;
  auto doc = json::parse(r.body, nullptr, false);
  if (!doc.is_object() || !doc.contains("result")) return;
  record(i, doc["result"], incarnation);
}

void store_monitor::record(int agent, const json& doc, int incarnation) {
  std::map<std::string, std::uint64_t> values;
  walk(doc, "", values);
  std::string marker;
  if (doc.contains("system") && doc["system"].is_object() && doc["system"].contains("pdl_agent")) {
    marker = doc["system"]["pdl_agent"].dump();
  }
  ++samples_;
  std::lock_guard lk(mu_);
  for (auto& [p, v] : values) seen_.insert(v);
  if (marker.empty()) return;  // the engine is being (re)built: no order to hold yet
  std::string engine = std::to_string(incarnation) + "|" + marker;
  std::string phase = engine + "|" + std::to_string(agent_generation_[agent]);
  auto& last = last_[agent][phase];
  auto& engine_last = last_in_engine_[agent];
  auto& sampled = last_sample_[agent];
  sampled.clear();
  const auto& inherited = inherited_[agent];
  for (auto& [p, v] : values) {
    auto it = last.find(p);
    auto inh = inherited.find(engine + "|" + p);
    if (it != last.end() && v < it->second && inh != inherited.end() &&
        inh->second == it->second) {
      // The dead predecessor wrote it; the agent resumed below it and replays over it.
      restart_regressions_.push_back("agent " + std::to_string(agent) + " " + p + ": v " +
                                     std::to_string(v) + " after v " + std::to_string(it->second) +
                                     " (written before an agent restart)");
    } else if (it != last.end() && v < it->second) {
      violations_.push_back("agent " + std::to_string(agent) + " " + p + ": v " +
                            std::to_string(v) + " after v " + std::to_string(it->second) +
                            " (stand-in #" + std::to_string(incarnation) + ", marker " + marker +
                            ")");
    } else if (it == last.end()) {
      auto e = engine_last.find(engine + "|" + p);
      if (e != engine_last.end() && v < e->second) {
        restart_regressions_.push_back("agent " + std::to_string(agent) + " " + p + ": v " +
                                       std::to_string(v) + " after v " + std::to_string(e->second) +
                                       " across an agent restart");
      }
    }
    last[p] = v;
    engine_last[engine + "|" + p] = v;
    sampled[engine + "|" + p] = v;
  }
}

void store_monitor::run() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    lk.unlock();
    for (int i = 0; i < cluster_.agents(); ++i) sample(i);
    lk.lock();
    cv_.wait_for(lk, std::chrono::milliseconds(100), [&] { return stop_; });
  }
}

std::vector<std::string> store_monitor::violations() const {
  std::lock_guard lk(mu_);
  return violations_;
}

std::vector<std::string> store_monitor::restart_regressions() const {
  std::lock_guard lk(mu_);
  return restart_regressions_;
}

std::set<std::uint64_t> store_monitor::seen() const {
  std::lock_guard lk(mu_);
  return seen_;
}

}  // namespace pdl::test::faults
