#pragma once
// The processes one integration test runs (server, agents, stand-ins, sources), by name, with
// their logs in the test's temporary directory: start them, wait for their ports, read their
// logs for failure messages. Every process is killed when the group goes.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace pdl::test {

class process_group {
 public:
  /** Logs and port files go under @p dir (which must outlive the group). */
  explicit process_group(const temp_dir& dir) : dir_(dir) {}

  /** Starts @p bin (a binary of this build) as @p name, replacing a stopped one of that name. */
  process& start(const std::string& name, const std::string& bin, std::vector<std::string> args,
                 const std::map<std::string, std::string>& env = {});
  /** start() with `--port-file`, then waits for the port. @throws with the log on timeout. */
  int start_with_port(const std::string& name, const std::string& bin,
                      std::vector<std::string> args,
                      const std::map<std::string, std::string>& env = {});

  process& operator[](const std::string& name) { return *procs_.at(name); }
  /** The last @p tail_bytes of every log, each under its name (for assertion messages). */
  std::string logs(std::size_t tail_bytes = 3000) const;
  /** Every log, whole, concatenated (to search for secrets). */
  std::string all_logs() const;
  /** Stops every process (SIGTERM, then SIGKILL), so their logs are complete. */
  void stop_all();

 private:
  const temp_dir& dir_;
  std::map<std::string, std::unique_ptr<process>> procs_;
};

/** "http://127.0.0.1:<port>" */
std::string loopback_url(int port);

}  // namespace pdl::test
