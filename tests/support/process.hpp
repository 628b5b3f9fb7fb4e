#pragma once
// Real processes for integration tests: spawn a binary with args and env, its stdout+stderr
// captured in a log file; wait for the port it bound (written to --port-file) with a deadline.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pdl::test {

using namespace std::chrono_literals;

/** Path of a binary built by this project (PDL_BINARY_DIR/<name>, or server/agent dirs). */
std::string binary_path(const std::string& name);

/** A fresh temporary directory, removed by the destructor. */
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const noexcept { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class process {
 public:
  /** Starts @p binary. @p env is added to (and overrides) the current environment; a value of
   *  "\x01unset" removes a variable. Output goes to @p log_path. Throws on fork/exec failure. */
  process(const std::string& binary, const std::vector<std::string>& args,
          const std::map<std::string, std::string>& env, const std::string& log_path);
  ~process();  // SIGKILL if still running
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  int pid() const noexcept { return pid_; }
  bool running();
  /** SIGTERM, then wait up to @p grace; SIGKILL after. Returns the exit status (or -signal). */
  int stop(std::chrono::milliseconds grace = 5000ms);
  void kill9();
  /** Waits for exit; nullopt when still running at the deadline. */
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string log() const;  // everything the process printed so far
  const std::string& log_path() const noexcept { return log_path_; }

 private:
  int pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

/** Polls @p pred every 10 ms until true or the deadline passes. Returns the last result. */
bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10000ms);

/** Reads a port written to @p path (a decimal number + newline), waiting up to @p timeout.
 *  Throws std::runtime_error with @p who's log tail on timeout. */
int wait_for_port_file(const std::string& path, std::chrono::milliseconds timeout = 15000ms,
                       const process* who = nullptr);

/** Runs a command to completion, capturing stdout and stderr together. */
struct run_result {
  int exit_code;
  std::string output;
};
run_result run_command(const std::string& binary, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {},
                       std::chrono::milliseconds timeout = 30000ms);

std::string read_file(const std::string& path);

}  // namespace pdl::test
