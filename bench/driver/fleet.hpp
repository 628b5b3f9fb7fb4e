#pragma once
// The processes one benchmark scenario needs, started the way the integration tests start them
// (tests/support/process.hpp): OPA stand-ins with --write-log, fake data sources, one server with
// a fresh master token, agents. Everything is killed when the fleet goes out of scope.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace pdl::bench {

struct standin {
  int port = 0;
  std::string write_log;  // path of its --write-log
  test::process* proc = nullptr;
};

struct data_source {
  int port = 0;
  test::process* proc = nullptr;
};

struct agent {
  int api_port = 0;
  std::int64_t started_ns = 0;  // just before the fork
  std::int64_t ready_ns = 0;    // when /ready first answered 200
  test::process* proc = nullptr;
};

struct publish_result {
  std::int64_t sent_ns = 0;  // just before the request
  std::int64_t ok_ns = 0;    // right after the 200 answer
  std::string body;          // the answer (ids, seq, blobs)
};

/** bench_ws_swarm processes sharing one count of subscribers (each under the descriptor
 *  limit), and their rounds merged: first = the earliest first notify, last = the latest. */
struct swarm_set {
  std::vector<test::process*> procs;
  std::vector<std::string> ready_files;
  std::vector<std::string> result_files;
  /** True once every swarm wrote its ready file. @throws when one died. */
  bool all_ready() const;
  /** True once every swarm completed round @p r (1-based); sets the merged stamps. */
  bool round_done(std::size_t r, std::int64_t& first_ns, std::int64_t& last_ns) const;
  double cpu_ms() const;
  void stop();
};

class fleet {
 public:
  /** @p dir: where logs, port files and write logs go; emptied first, so a stale port file of
   *  an earlier run can never be read. */
  explicit fleet(std::string dir);

  /** opa-standin with --write-log; @p extra_args more flags (--discard-data-under /bench). */
  standin start_standin(const std::vector<std::string>& extra_args = {});
  /** fake-data-source serving each path -> file; @p extra_args more flags (--require-header). */
  data_source start_source(const std::map<std::string, std::string>& routes,
                           const std::vector<std::string>& extra_args = {});
  /** opal-server with a fresh master token; @p env extra variables. Fills server_url(). */
  void start_server(const std::map<std::string, std::string>& env = {});
  const std::string& server_url() const { return server_url_; }
  int server_pid() const { return server_->pid(); }
  /** POST /token with the master token: a JWT of @p type (client, datasource). */
  std::string token(const std::string& type);

  /** opal-client subscribed to @p topics, writing to @p store. Does not wait for ready. */
  agent& start_agent(const standin& store, const std::string& topics = "bench",
                     const std::map<std::string, std::string>& env = {});
  /** Waits for the agent's port file, then polls /ready every 0.25 ms; sets ready_ns.
   *  @throws std::runtime_error with the agent's log tail on timeout. */
  void wait_ready(agent& a, std::chrono::milliseconds timeout = std::chrono::seconds(60));

  /** POST /data/config with a datasource token. @throws unless 200. */
  publish_result publish(const std::string& datasource_token, const std::string& update_json);

  /** Swarms for @p count subscribers of topic "bench" spread over @p ws_urls, @p rounds
   *  notifies expected per subscriber; at most max_per_swarm connections each. */
  swarm_set start_swarms(const std::vector<std::string>& ws_urls, const std::string& token_file,
                         int count, int rounds);
  static int max_per_swarm();

  test::process& start(const std::string& name, const std::string& binary,
                       std::vector<std::string> args, std::map<std::string, std::string> env = {});
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
  int counter_ = 0;
  std::vector<std::unique_ptr<test::process>> procs_;
  std::vector<std::unique_ptr<agent>> agents_;
  test::process* server_ = nullptr;
  std::string server_url_;
  std::string master_;
};

}  // namespace pdl::bench
