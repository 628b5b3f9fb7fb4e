#pragma once
// The fault suite's processes on loopback: one opal-server (durable log, fixed signing key, so
// tokens survive its restarts), one fake data source, and N agents, each with its own OPA
// stand-in and data directory. Every agent reaches the server through its own tcp_proxy and its
// stand-in through another, so a restarted server or stand-in (new ephemeral port) stays at the
// same address and the test can cut connections. Restarts are kill -9.
// Thread safety: every member locks mu_; callers on other threads (publisher, monitor, chaos)
// see consistent ports and incarnations.
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tests/faults/tcp_proxy.hpp"
#include "tests/support/process.hpp"

namespace pdl::test::faults {

struct cluster_options {
  int agents = 5;
  std::vector<std::set<std::string>> topics;  // one set per agent
};

class cluster {
 public:
  /** Starts everything and waits until each process wrote its port. @throws on failure. */
  cluster(const std::string& root, cluster_options opts);
  ~cluster();

  int agents() const { return static_cast<int>(slots_.size()); }
  const std::set<std::string>& topics(int agent) const { return slots_[agent]->topics; }
  std::string server_url() const;
  int source_port() const { return source_port_; }
  const std::string& datasource_token() const { return ds_token_; }

  void restart_server();
  void kill_agent(int i);
  void start_agent(int i);   // no-op when running
  void kill_opa(int i);
  void start_opa(int i);     // no-op when running; a new incarnation, empty
  bool agent_running(int i);
  bool opa_running(int i);
  void cut_server_links(int i);   // agent i <-> server
  void cut_opa_links(int i);      // agent i <-> its stand-in

  /** The current stand-in of agent i: port (0 when down) and incarnation number. */
  std::pair<int, int> opa_endpoint(int i);

  /** Processes that died without being killed by the test since the last call ("agent 2 exited
   *  with -6" plus its log tail); each is restarted (same data dir) so the run can go on. */
  std::vector<std::string> reap_crashes();

  /** The last @p bytes of every process log (for failure messages). */
  std::string log_tails(std::size_t bytes = 3000);
  /** Copies every process log to @p dir (created), so a failure can be studied after the
   *  temporary directory is gone. */
  void keep_logs(const std::string& dir);
  /** Agent @p i's log file (it appends; read it for diagnostics). */
  std::string agent_log(int i) const { return root_ + "/agent-" + std::to_string(i) + ".log"; }
  /** Appends a line to a process's log, so restarts are visible in the tails. */
  void note(const std::string& log, const std::string& line);

 private:
  struct slot {
    std::set<std::string> topics;
    std::string data_dir;
    std::string config;
    std::unique_ptr<process> agent;
    std::unique_ptr<process> opa;
    int opa_port = 0;
    int opa_incarnation = 0;
    int agent_incarnation = 0;
    std::unique_ptr<tcp_proxy> to_server;
    std::unique_ptr<tcp_proxy> to_opa;
  };
  int start_server_locked();
  void start_agent_locked(int i);
  void start_opa_locked(int i);
  void write_agent_config(int i);

  std::string root_;
  mutable std::mutex mu_;
  std::string master_;
  std::string key_path_;
  std::string ds_token_;
  std::string client_token_;
  std::unique_ptr<process> server_;
  int server_port_ = 0;
  int server_incarnation_ = 0;
  std::unique_ptr<process> source_;
  int source_port_ = 0;
  std::vector<std::unique_ptr<slot>> slots_;
};

}  // namespace pdl::test::faults
