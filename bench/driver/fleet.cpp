#include "bench/driver/fleet.hpp"

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/scenarios.hpp"
#include "shared/http/client.hpp"

namespace pdl::bench {
namespace {

using namespace std::chrono_literals;

std::string log_tail(const test::process& p) {
  std::string s = p.log();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  auto nl = s.find_last_of('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

}  // namespace

fleet::fleet(std::string dir) : dir_(std::move(dir)) {
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

test::process& fleet::start(const std::string& name, const std::string& binary,
                            std::vector<std::string> args, std::map<std::string, std::string> env) {
  procs_.push_back(std::make_unique<test::process>(test::binary_path(binary), args, env,
                                                   file(name + ".log")));
  return *procs_.back();
}

standin fleet::start_standin(const std::vector<std::string>& extra_args) {
  std::string name = "opa-" + std::to_string(++counter_);
  standin s;
  s.write_log = file(name + ".writes");
  std::string pf = file(name + ".port");
  std::vector<std::string> args{"--addr", "127.0.0.1:0", "--port-file", pf, "--write-log",
                                s.write_log};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  s.proc = &start(name, "opa-standin", args);
  s.port = test::wait_for_port_file(pf, 20000ms, s.proc);
  return s;
}

data_source fleet::start_source(const std::map<std::string, std::string>& routes,
                                const std::vector<std::string>& extra_args) {
  std::string name = "source-" + std::to_string(++counter_);
  std::string pf = file(name + ".port");
  std::vector<std::string> args{"--addr", "127.0.0.1:0", "--port-file", pf};
  for (const auto& [path, f] : routes) {
    args.push_back("--route");
    args.push_back(path + "=@" + f);
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  data_source s;
  s.proc = &start(name, "fake-data-source", args);
  s.port = test::wait_for_port_file(pf, 120000ms, s.proc);  // it checks a 100 MB file is JSON first
  return s;
}

void fleet::start_server(const std::map<std::string, std::string>& extra) {
  auto secret = test::run_command(test::binary_path("opal-server"), {"generate-secret"});
  if (secret.exit_code != 0) throw std::runtime_error("generate-secret: " + secret.output);
  master_ = last_line(secret.output);
  std::map<std::string, std::string> env{{"OPAL_AUTH_MASTER_TOKEN", master_},
                                         {"OPAL_SERVER_HOST", "127.0.0.1"},
                                         {"OPAL_SERVER_BIND_PORT", "0"}};
  for (const auto& [k, v] : extra) env[k] = v;
  std::string pf = file("server.port");
  server_ = &start("server", "opal-server", {"run", "--port-file", pf}, env);
  int port = test::wait_for_port_file(pf, 20000ms, server_);
  server_url_ = "http://127.0.0.1:" + std::to_string(port);
}

std::string fleet::token(const std::string& type) {
  http_client::request req;
  req.method = "POST";
  req.url = server_url_ + "/token";
  req.headers.push_back({"Authorization", secret("Bearer " + master_)});
  req.headers.push_back({"Content-Type", secret("application/json")});
  req.body = nlohmann::json{{"type", type}}.dump();
  auto r = http_client::perform(req);
  auto* ok = std::get_if<http_client::response>(&r);
  if (ok == nullptr || ok->status != 200) {
    throw std::runtime_error("POST /token failed: " +
                             (ok ? std::to_string(ok->status) + " " + ok->body
                                 : std::get<http_client::transport_error>(r).message));
  }
  return nlohmann::json::parse(ok->body).at("token").get<std::string>();
}

agent& fleet::start_agent(const standin& store, const std::string& topics,
                          const std::map<std::string, std::string>& extra) {
  std::string name = "agent-" + std::to_string(++counter_);
  std::map<std::string, std::string> env{
      {"OPAL_SERVER_URL", server_url_},
      {"OPAL_CLIENT_TOKEN", token("client")},
      {"OPAL_DATA_TOPICS", topics},
      {"OPAL_POLICY_STORE_URL", "http://127.0.0.1:" + std::to_string(store.port)},
      {"OPAL_CLIENT_API_SERVER_PORT", "0"}};
  for (const auto& [k, v] : extra) env[k] = v;
  auto a = std::make_unique<agent>();
  std::string pf = file(name + ".port");
  std::remove(pf.c_str());
  a->started_ns = now_ns();
  a->proc = &start(name, "opal-client", {"run", "--port-file", pf}, env);
  agents_.push_back(std::move(a));
  return *agents_.back();
}

void fleet::wait_ready(agent& a, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // The port file name is derived from the log name: agent-N.log -> agent-N.port.
  std::string pf = a.proc->log_path();
  pf.replace(pf.size() - 4, 4, ".port");
  while (a.api_port == 0) {
    std::ifstream in(pf);
    int port = 0;
    if (in >> port && port > 0) {
      a.api_port = port;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline || !a.proc->running()) {
      throw std::runtime_error("agent wrote no port file: " + log_tail(*a.proc));
    }
    std::this_thread::sleep_for(250us);
  }
  while (true) {
    if (raw_get_status(a.api_port, "/ready") == 200) {
      a.ready_ns = now_ns();
      return;
    }
    if (std::chrono::steady_clock::now() > deadline || !a.proc->running()) {
      throw std::runtime_error("agent not ready: " + log_tail(*a.proc));
    }
    std::this_thread::sleep_for(250us);
  }
}

publish_result fleet::publish(const std::string& datasource_token, const std::string& update_json) {
  http_client::request req;
  req.method = "POST";
  req.url = server_url_ + "/data/config";
  req.headers.push_back({"Authorization", secret("Bearer " + datasource_token)});
  req.headers.push_back({"Content-Type", secret("application/json")});
  req.body = update_json;
  publish_result out;
  out.sent_ns = now_ns();
  auto r = http_client::perform(req);
  out.ok_ns = now_ns();
  auto* ok = std::get_if<http_client::response>(&r);
  if (ok == nullptr || ok->status != 200) {
    throw std::runtime_error("publish failed: " +
                             (ok ? std::to_string(ok->status) + " " + ok->body
                                 : std::get<http_client::transport_error>(r).message));
  }
  out.body = ok->body;
  return out;
}

int fleet::max_per_swarm() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<int>(std::min<rlim_t>(50000, rl.rlim_max > 2000 ? rl.rlim_max - 1000 : 1000));
}

swarm_set fleet::start_swarms(const std::vector<std::string>& ws_urls,
                              const std::string& token_file, int count, int rounds) {
  swarm_set out;
  const int per = max_per_swarm();
  const int n = (count + per - 1) / per;
  for (int i = 0; i < n; ++i) {
    const int mine = count / n + (i < count % n ? 1 : 0);
    std::string tag = "swarm" + std::to_string(i);
    out.ready_files.push_back(file(tag + ".ready"));
    out.result_files.push_back(file(tag + ".result"));
    std::vector<std::string> args{"--token-file", token_file, "--count", std::to_string(mine),
                                  "--topic", "bench", "--ready-file", out.ready_files.back(),
                                  "--result-file", out.result_files.back(), "--expect",
                                  std::to_string(rounds), "--sources",
                                  std::to_string(1 + mine / 20000), "--source-offset",
                                  std::to_string(i * 3)};
    for (const auto& u : ws_urls) {
      args.push_back("--url");
      args.push_back(u);
    }
    out.procs.push_back(&start(tag, "bench_ws_swarm", args));
  }
  return out;
}

bool swarm_set::all_ready() const {
  for (std::size_t i = 0; i < procs.size(); ++i) {
    std::vector<std::int64_t> nums;
    if (!read_numbers(ready_files[i], nums)) {
      if (!procs[i]->running()) throw std::runtime_error("a swarm died: " + procs[i]->log());
      return false;
    }
  }
  return true;
}

bool swarm_set::round_done(std::size_t r, std::int64_t& first_ns, std::int64_t& last_ns) const {
  first_ns = 0;
  last_ns = 0;
  for (std::size_t i = 0; i < procs.size(); ++i) {
    std::vector<std::int64_t> nums;
    if (!read_numbers(result_files[i], nums) || nums.size() < 3 * r) {
      if (!procs[i]->running()) throw std::runtime_error("a swarm died: " + procs[i]->log());
      return false;
    }
    std::int64_t f = nums[3 * (r - 1)], l = nums[3 * (r - 1) + 1];
    first_ns = first_ns == 0 ? f : std::min(first_ns, f);
    last_ns = std::max(last_ns, l);
  }
  return true;
}

double swarm_set::cpu_ms() const {
  double sum = 0;
  for (auto* p : procs) sum += cpu_ms_precise(p->pid());
  return sum;
}

void swarm_set::stop() {
  for (auto* p : procs) p->stop(std::chrono::milliseconds(5000));
}

}  // namespace pdl::bench
