#include "tests/support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace pdl::test {
namespace fs = std::filesystem;

std::string binary_path(const std::string& name) {
  for (const char* dir : {"", "/server", "/agent", "/tests"}) {
    std::string p = std::string(PDL_BINARY_DIR) + dir + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) {
      return p;
    }
  }
  throw std::runtime_error("binary not built: " + name);
}

temp_dir::temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "pdl-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
  }
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  if (std::getenv("PDL_KEEP_TEST_DIRS") == nullptr) {
    fs::remove_all(path_, ec);
  }
}

process::process(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& log_path)
    : log_path_(log_path) {
  // Build argv/envp before fork: only async-signal-safe calls in the child.
  std::vector<std::string> argv_s{binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) {
      merged[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  for (const auto& [k, v] : env) {
    if (v == "\x01unset") {
      merged.erase(k);
    } else {
      merged[k] = v;
    }
  }
  std::vector<std::string> env_s;
  for (const auto& [k, v] : merged) {
    env_s.push_back(k + "=" + v);
  }
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot open log " + log_path);
  }
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fd);
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fd);
}

process::~process() {
  if (running()) {
    kill9();
  }
}

bool process::running() {
  if (status_ || pid_ <= 0) {
    return false;
  }
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return false;
  }
  return true;
}

std::optional<int> process::wait_exit(std::chrono::milliseconds timeout) {
  poll_until([&] { return !running(); }, timeout);
  return status_;
}

int process::stop(std::chrono::milliseconds grace) {
  if (running()) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(grace)) {
      kill9();
    }
  }
  return status_.value_or(-9);
}

void process::kill9() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
  }
}

std::string process::log() const { return read_file(log_path_); }

bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return pred();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int wait_for_port_file(const std::string& path, std::chrono::milliseconds timeout,
                       const process* who) {
  int port = 0;
  poll_until(
      [&] {
        std::ifstream in(path);
        return static_cast<bool>(in >> port) && port > 0;
      },
      timeout);
  if (port <= 0) {
    std::string tail = who != nullptr ? who->log() : std::string();
    if (tail.size() > 4000) tail = tail.substr(tail.size() - 4000);
    throw std::runtime_error("no port written to " + path + "; log:\n" + tail);
  }
  return port;
}

run_result run_command(const std::string& binary, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env,
                       std::chrono::milliseconds timeout) {
  temp_dir dir;
  std::string out = dir.file("out.log");
  process p(binary, args, env, out);
  auto st = p.wait_exit(timeout);
  if (!st) {
    p.kill9();
    throw std::runtime_error("command timed out: " + binary + "\n" + read_file(out));
  }
  return {*st, read_file(out)};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace pdl::test
