#include "tests/support/redis_sentinel.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace pdl::test {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

bool have_redis_sentinel() {
  return have_redis_server() && std::filesystem::exists(redis_binary("redis-sentinel"));
}

redis_sentinel_set::redis_sentinel_set(std::string dir, sentinel_options options)
    : dir_(std::move(dir)), opts_(std::move(options)) {
  std::filesystem::create_directories(dir_);
  nodes_.push_back(std::make_unique<redis_server>(dir_ + "/node-0"));
  const int primary = nodes_.front()->port();
  for (int i = 1; i <= opts_.replicas; ++i) {
    nodes_.push_back(std::make_unique<redis_server>(
        dir_ + "/node-" + std::to_string(i),
        std::vector<std::string>{"--replicaof", "127.0.0.1", std::to_string(primary)}));
  }
  for (int i = 1; i <= opts_.replicas; ++i) {
    if (!poll_until([&] { return replica_in_sync(i); }, 15000ms)) {
      throw std::runtime_error("replica " + std::to_string(i) + " did not sync: " +
                               node(i).cli({"INFO", "replication"}));
    }
  }
  for (int s = 0; s < opts_.sentinels; ++s) {
    const std::string sdir = dir_ + "/sentinel-" + std::to_string(s);
    std::filesystem::create_directories(sdir);
    const int port = free_loopback_port();
    // Sentinel rewrites its configuration file as it learns: it must be a file of its own.
    std::ofstream conf(sdir + "/sentinel.conf");
    conf << "port " << port << "\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n"
         << "dir " << sdir << "\n"
         << "sentinel monitor " << opts_.master_name << " 127.0.0.1 " << primary << " "
         << opts_.quorum << "\n"
         << "sentinel down-after-milliseconds " << opts_.master_name << " " << opts_.down_after_ms
         << "\n"
         << "sentinel failover-timeout " << opts_.master_name << " " << opts_.failover_timeout_ms
         << "\n"
         << "sentinel parallel-syncs " << opts_.master_name << " 1\n";
    conf.close();
    sentinel_ports_.push_back(port);
    sentinels_.push_back(std::make_unique<process>(
        redis_binary("redis-sentinel"), std::vector<std::string>{sdir + "/sentinel.conf"},
        std::map<std::string, std::string>{}, sdir + "/sentinel.log"));
    const auto up = [&] {
      return !sentinels_.back()->running() || sentinel_cli(s, {"PING"}) == "PONG";
    };
    if (!poll_until(up, 10000ms) || !sentinels_.back()->running()) {
      throw std::runtime_error("redis-sentinel did not start: " + sentinels_.back()->log());
    }
  }
}

redis_sentinel_set::~redis_sentinel_set() {
  for (auto& s : sentinels_) s->kill9();
}

std::string redis_sentinel_set::uri() const {
  std::string hosts;
  for (int p : sentinel_ports_) {
    hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(p);
  }
  return "redis-sentinel://" + hosts + "#" + opts_.master_name;
}

std::string redis_sentinel_set::sentinel_cli(int s, const std::vector<std::string>& args) const {
  std::vector<std::string> all{"-h", "127.0.0.1", "-p",
                               std::to_string(sentinel_ports_.at(static_cast<std::size_t>(s)))};
  all.insert(all.end(), args.begin(), args.end());
  return trim(run_command(redis_binary("redis-cli"), all, {}, 5000ms).output);
}

int redis_sentinel_set::primary_port(int s) const {
  // Two lines: the address and the port.
  const auto out = sentinel_cli(s, {"SENTINEL", "get-master-addr-by-name", opts_.master_name});
  const auto nl = out.rfind('\n');
  if (nl == std::string::npos) return 0;
  try {
    return std::stoi(out.substr(nl + 1));
  } catch (const std::exception&) {
    return 0;
  }
}

bool redis_sentinel_set::settled(int primary, int replicas) const {
  for (int s = 0; s < opts_.sentinels; ++s) {
    if (primary_port(s) != primary) return false;
    if (sentinel_cli(s, {"SENTINEL", "CKQUORUM", opts_.master_name}).rfind("OK", 0) != 0) {
      return false;
    }
    // Every other sentinel and every replica, each a field list mentioning "flags".
    const auto count = [](const std::string& text) {
      int n = 0;
      for (std::size_t at = text.find("\nflags\n"); at != std::string::npos;
           at = text.find("\nflags\n", at + 1)) {
        ++n;
      }
      return n;
    };
    if (count("\n" + sentinel_cli(s, {"SENTINEL", "sentinels", opts_.master_name})) <
        opts_.sentinels - 1) {
      return false;
    }
    const auto rs = sentinel_cli(s, {"SENTINEL", "replicas", opts_.master_name});
    if (count("\n" + rs) < replicas || rs.find("s_down") != std::string::npos ||
        rs.find("disconnected") != std::string::npos) {
      return false;
    }
  }
  return true;
}

bool redis_sentinel_set::replica_in_sync(int i) {
  const auto info = node(i).cli({"INFO", "replication"});
  return info.find("role:slave") != std::string::npos &&
         info.find("master_link_status:up") != std::string::npos;
}

void redis_sentinel_set::restart_as_replica(int i, int primary) {
  node(i).set_extra_args({"--replicaof", "127.0.0.1", std::to_string(primary)});
  node(i).start();
}

std::string redis_sentinel_set::logs() const {
  std::string out;
  for (std::size_t s = 0; s < sentinels_.size(); ++s) {
    const auto log = sentinels_[s]->log();
    out += "\n--- sentinel " + std::to_string(s) + " ---\n" +
           (log.size() > 3000 ? log.substr(log.size() - 3000) : log);
  }
  return out;
}

}  // namespace pdl::test
