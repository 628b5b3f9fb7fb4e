#include "tests/faults/cluster.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace pdl::test::faults {

namespace fs = std::filesystem;

namespace {

std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  auto nl = s.find_last_of('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

std::string tail(const std::string& s, std::size_t bytes) {
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

int start_with_port_file(std::unique_ptr<process>& slot, const std::string& bin,
                         std::vector<std::string> args, std::map<std::string, std::string> env,
                         const std::string& log, const std::string& port_file) {
  fs::remove(port_file);
  args.push_back("--port-file");
  args.push_back(port_file);
  slot = std::make_unique<process>(binary_path(bin), args, env, log);
  return wait_for_port_file(port_file, 30000ms, slot.get());
}

}  // namespace

cluster::cluster(const std::string& root, cluster_options opts) : root_(root) {
  std::lock_guard lk(mu_);
  key_path_ = root_ + "/server-key.pem";
  auto key = run_command("/usr/bin/openssl", {"genrsa", "-out", key_path_, "2048"});
  if (key.exit_code != 0) throw std::runtime_error("openssl genrsa failed: " + key.output);
  auto secret = run_command(binary_path("opal-server"), {"generate-secret"});
  if (secret.exit_code != 0) throw std::runtime_error("generate-secret: " + secret.output);
  master_ = last_line(secret.output);

  // A small segment size and retention make the server roll and compact its log during the run.
  std::ofstream(root_ + "/server.yaml")
      << "limits: {ws_ping_interval_seconds: 1}\n"
      << "update_log: {fsync: always, segment_bytes: 65536, retention_bytes: 262144}\n";
  fs::create_directories(root_ + "/server-data");
  server_port_ = start_server_locked();

  source_port_ = start_with_port_file(source_, "fake-data-source", {"--addr", "127.0.0.1:0"}, {},
                                      root_ + "/source.log", root_ + "/source.port");

  auto token = [&](const std::string& type) {
    auto r = run_command(binary_path("opal-client"),
                         {"obtain-token", master_,
                          "--uri=http://127.0.0.1:" + std::to_string(server_port_), "--type", type});
    if (r.exit_code != 0) throw std::runtime_error("obtain-token " + type + " failed");
    return last_line(r.output);
  };
  ds_token_ = token("datasource");
  client_token_ = token("client");

  for (int i = 0; i < opts.agents; ++i) {
    auto s = std::make_unique<slot>();
    s->topics = opts.topics.at(static_cast<std::size_t>(i));
    s->data_dir = root_ + "/agent-" + std::to_string(i) + "-data";
    fs::create_directories(s->data_dir);
    s->to_server = std::make_unique<tcp_proxy>(server_port_);
    s->to_opa = std::make_unique<tcp_proxy>(0);
    slots_.push_back(std::move(s));
    start_opa_locked(i);
    write_agent_config(i);
    start_agent_locked(i);
  }
}

cluster::~cluster() {
  std::lock_guard lk(mu_);
  for (auto& s : slots_) {
    if (s->agent) s->agent->kill9();
    if (s->opa) s->opa->kill9();
  }
  if (server_) server_->kill9();
  if (source_) source_->kill9();
}

int cluster::start_server_locked() {
  ++server_incarnation_;
  return start_with_port_file(
      server_, "opal-server",
      {"run", "--config", root_ + "/server.yaml", "--data-dir", root_ + "/server-data"},
      {{"OPAL_AUTH_MASTER_TOKEN", master_},
       {"OPAL_AUTH_PRIVATE_KEY", key_path_},
       {"OPAL_AUTH_PRIVATE_KEY_FORMAT", "pem"},
       {"OPAL_SERVER_HOST", "127.0.0.1"},
       {"OPAL_SERVER_BIND_PORT", "0"}},
      root_ + "/server.log", root_ + "/server.port");
}

void cluster::write_agent_config(int i) {
  slot& s = *slots_[i];
  s.config = root_ + "/agent-" + std::to_string(i) + ".yaml";
  std::string topics;
  for (const auto& t : s.topics) topics += (topics.empty() ? "" : ", ") + t;
  // Generous retries (about 8 s per fetch or write) so that every injected fault is shorter
  // than the budget: a failure here is a lost update, not bad luck.
  std::ofstream(s.config)
      << "server:\n"
      << "  url: http://127.0.0.1:" << s.to_server->port() << "\n"
      << "  token: " << client_token_ << "\n"
      << "  reconnect_min_ms: 50\n  reconnect_max_ms: 500\n  ping_interval_seconds: 1\n"
      << "data: {topics: [" << topics << "]}\n"
      << "policy_store: {url: 'http://127.0.0.1:" << s.to_opa->port() << "', timeout_ms: 3000}\n"
      << "fetch: {connect_timeout_ms: 1000, idle_timeout_ms: 1000}\n"
      << "api: {host: 127.0.0.1, port: 0}\n"
      << "agent: {marker_check_interval_ms: 300}\n"
      << "retry: {attempts: 30, base_ms: 20, max_ms: 300}\n";
}

void cluster::start_agent_locked(int i) {
  slot& s = *slots_[i];
  ++s.agent_incarnation;
  std::string name = root_ + "/agent-" + std::to_string(i);
  start_with_port_file(s.agent, "opal-client",
                       {"run", "--config", s.config, "--data-dir", s.data_dir}, {},
                       name + ".log", name + ".port");
}

void cluster::start_opa_locked(int i) {
  slot& s = *slots_[i];
  ++s.opa_incarnation;
  std::string name = root_ + "/opa-" + std::to_string(i);
  s.opa_port = start_with_port_file(s.opa, "opa-standin", {"--addr", "127.0.0.1:0"}, {},
                                    name + ".log", name + ".port");
  s.to_opa->retarget(s.opa_port);
}

std::string cluster::server_url() const {
  std::lock_guard lk(mu_);
  return "http://127.0.0.1:" + std::to_string(server_port_);
}

void cluster::restart_server() {
  std::lock_guard lk(mu_);
  server_->kill9();
  server_->wait_exit(10000ms);
  note(root_ + "/server.log", "fault suite: kill -9 server, restarting");
  server_port_ = 0;
  for (auto& s : slots_) s->to_server->retarget(0);
  server_port_ = start_server_locked();
  for (auto& s : slots_) s->to_server->retarget(server_port_);
}

void cluster::kill_agent(int i) {
  std::lock_guard lk(mu_);
  slot& s = *slots_[i];
  if (!s.agent) return;
  s.agent->kill9();
  s.agent->wait_exit(10000ms);
  s.agent.reset();
  note(root_ + "/agent-" + std::to_string(i) + ".log", "fault suite: kill -9 agent");
}

void cluster::start_agent(int i) {
  std::lock_guard lk(mu_);
  if (!slots_[i]->agent) start_agent_locked(i);
}

void cluster::kill_opa(int i) {
  std::lock_guard lk(mu_);
  slot& s = *slots_[i];
  if (!s.opa) return;
  s.to_opa->retarget(0);
  s.opa->kill9();
  s.opa->wait_exit(10000ms);
  s.opa.reset();
  s.opa_port = 0;
  note(root_ + "/opa-" + std::to_string(i) + ".log", "fault suite: kill -9 stand-in");
  // Also in the agent's log (opened O_APPEND, one write per line), next to its own lines.
  note(root_ + "/agent-" + std::to_string(i) + ".log", "fault suite: kill -9 stand-in");
}

void cluster::start_opa(int i) {
  std::lock_guard lk(mu_);
  if (slots_[i]->opa) return;
  start_opa_locked(i);
  note(root_ + "/agent-" + std::to_string(i) + ".log",
       "fault suite: stand-in #" + std::to_string(slots_[i]->opa_incarnation) + " started empty");
}

bool cluster::agent_running(int i) {
  std::lock_guard lk(mu_);
  return slots_[i]->agent && slots_[i]->agent->running();
}

bool cluster::opa_running(int i) {
  std::lock_guard lk(mu_);
  return slots_[i]->opa && slots_[i]->opa->running();
}

void cluster::cut_server_links(int i) { slots_[i]->to_server->cut_all(); }

void cluster::cut_opa_links(int i) { slots_[i]->to_opa->cut_all(); }

std::pair<int, int> cluster::opa_endpoint(int i) {
  std::lock_guard lk(mu_);
  return {slots_[i]->opa_port, slots_[i]->opa_incarnation};
}

std::vector<std::string> cluster::reap_crashes() {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  auto died = [&](std::unique_ptr<process>& p, const std::string& name) {
    if (!p || p->running()) return false;
    auto status = p->wait_exit(0ms);
    out.push_back(name + " exited on its own (status " +
                  (status ? std::to_string(*status) : std::string("?")) + "); log tail:\n" +
                  tail(p->log(), 2500));
    return true;
  };
  if (died(server_, "opal-server")) {
    server_port_ = start_server_locked();
    for (auto& s : slots_) s->to_server->retarget(server_port_);
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (died(slots_[i]->agent, "agent " + std::to_string(i))) start_agent_locked(static_cast<int>(i));
    if (died(slots_[i]->opa, "stand-in " + std::to_string(i))) start_opa_locked(static_cast<int>(i));
  }
  return out;
}

std::string cluster::log_tails(std::size_t bytes) {
  std::string out;
  auto add = [&](const std::string& name) {
    out += "----- " + name + " (tail) -----\n" + tail(read_file(root_ + "/" + name), bytes) + "\n";
  };
  add("server.log");
  add("source.log");
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    add("agent-" + std::to_string(i) + ".log");
    add("opa-" + std::to_string(i) + ".log");
  }
  return out;
}

void cluster::keep_logs(const std::string& dir) {
  std::lock_guard lk(mu_);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(root_)) {
    if (e.path().extension() == ".log") {
      fs::copy_file(e.path(), dir + "/" + e.path().filename().string(),
                    fs::copy_options::overwrite_existing);
    }
  }
}

void cluster::note(const std::string& log, const std::string& line) {
  std::ofstream(log, std::ios::app) << "=== " << line << " ===\n";
}

}  // namespace pdl::test::faults
