#include "tests/support/redis_server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <stdexcept>

namespace pdl::test {
std::string redis_binary(const char* name) {
  for (const std::string dir : {"/usr/bin", "/usr/local/bin"}) {
    if (std::filesystem::exists(dir + "/" + name)) {
      return dir + "/" + name;
    }
  }
  return name;
}

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no free port for redis-server");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

int free_loopback_port() { return free_port(); }

bool have_redis_server() {
  return std::filesystem::exists(redis_binary("redis-server"));
}

redis_server::redis_server(std::string dir, std::vector<std::string> extra_args)
    : dir_(std::move(dir)), extra_(std::move(extra_args)) {
  std::filesystem::create_directories(dir_);
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    try {
      start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 4) throw;
    }
  }
}

redis_server::~redis_server() {
  if (proc_) proc_->kill9();
}

void redis_server::start() {
  if (proc_ && proc_->running()) return;
  ++incarnation_;
  std::vector<std::string> args{"--port", std::to_string(port_), "--bind", "127.0.0.1",
                                "--dir", dir_, "--appendonly", "yes", "--appendfsync", "always",
                                "--save", "", "--daemonize", "no", "--protected-mode", "no"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  proc_ = std::make_unique<process>(
      redis_binary("redis-server"), args,
      std::map<std::string, std::string>{},
      dir_ + "/redis-" + std::to_string(incarnation_) + ".log");
  const bool up = poll_until([&] { return !proc_->running() || cli({"PING"}) == "PONG"; }, 10000ms);
  if (!up || !proc_->running()) {
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) +
                             ": " + proc_->log());
  }
}

void redis_server::kill() {
  if (proc_) proc_->kill9();
}

void redis_server::freeze() {
  if (proc_ && proc_->running()) ::kill(proc_->pid(), SIGSTOP);
}

void redis_server::thaw() {
  if (proc_ && proc_->running()) ::kill(proc_->pid(), SIGCONT);
}

bool redis_server::running() { return proc_ && proc_->running(); }

std::string redis_server::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> all{"-h", "127.0.0.1", "-p", std::to_string(port_)};
  all.insert(all.end(), args.begin(), args.end());
  auto r = run_command(redis_binary("redis-cli"), all, {}, 5000ms);
  return trim(r.output);
}

}  // namespace pdl::test
