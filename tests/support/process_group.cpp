#include "tests/support/process_group.hpp"

#include <cstdio>

namespace pdl::test {

process& process_group::start(const std::string& name, const std::string& bin,
                              std::vector<std::string> args,
                              const std::map<std::string, std::string>& env) {
  auto p = std::make_unique<process>(binary_path(bin), args, env, dir_.file(name + ".log"));
  auto& slot = procs_[name];
  slot = std::move(p);
  return *slot;
}

int process_group::start_with_port(const std::string& name, const std::string& bin,
                                   std::vector<std::string> args,
                                   const std::map<std::string, std::string>& env) {
  const std::string pf = dir_.file(name + ".port");
  std::remove(pf.c_str());
  args.push_back("--port-file");
  args.push_back(pf);
  auto& p = start(name, bin, std::move(args), env);
  return wait_for_port_file(pf, 20000ms, &p);
}

std::string process_group::logs(std::size_t tail_bytes) const {
  std::string out;
  for (const auto& [name, p] : procs_) {
    const std::string log = p->log();
    out += "\n--- " + name + "\n" +
           log.substr(log.size() > tail_bytes ? log.size() - tail_bytes : 0);
  }
  return out;
}

std::string process_group::all_logs() const {
  std::string out;
  for (const auto& [name, p] : procs_) out += p->log();
  return out;
}

void process_group::stop_all() {
  for (auto& [name, p] : procs_) p->stop();
}

std::string loopback_url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace pdl::test
