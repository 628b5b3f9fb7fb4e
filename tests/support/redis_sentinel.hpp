#pragma once
// Redis with Sentinel for tests: a primary and replicas (redis_server, each its own directory and
// loopback port) and Debian's redis-sentinel processes watching them, on free loopback ports, with
// short timings (down after 1 s) so a failover takes seconds.
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace pdl::test {

struct sentinel_options {
  std::string master_name = "pdl-primary";
  int replicas = 1;
  int sentinels = 3;
  int quorum = 2;
  int down_after_ms = 1000;
  int failover_timeout_ms = 5000;
};

class redis_sentinel_set {
 public:
  /** Starts node 0 as the primary, the replicas replicating it, then the sentinels; waits until
   *  every replica's link is up (not until the sentinels know each other: settled()).
   *  @throws std::runtime_error with a log when something does not come up. */
  explicit redis_sentinel_set(std::string dir, sentinel_options options = {});
  ~redis_sentinel_set();

  /** redis-sentinel://127.0.0.1:p1,127.0.0.1:p2,...#name */
  std::string uri() const;
  const std::string& master_name() const noexcept { return opts_.master_name; }
  /** Node @p i (0 = the first primary). */
  redis_server& node(int i) { return *nodes_.at(static_cast<std::size_t>(i)); }
  int nodes() const noexcept { return static_cast<int>(nodes_.size()); }

  /** The primary's port as sentinel @p s names it now (0 when it does not answer). */
  int primary_port(int s = 0) const;
  /** True when every sentinel names @p primary_port, knows the other sentinels and
   *  @p replicas replicas, and its quorum is reachable (SENTINEL CKQUORUM). */
  bool settled(int primary_port, int replicas) const;
  /** True when node @p i is a replica whose link to its primary is up. */
  bool replica_in_sync(int i);

  /** Starts a node that was killed again, as a replica of @p primary_port (what an orchestrator
   *  that asks the sentinels first does). */
  void restart_as_replica(int i, int primary_port);

  /** Runs redis-cli against sentinel @p s; returns its output (trimmed). */
  std::string sentinel_cli(int s, const std::vector<std::string>& args) const;
  /** The sentinels' logs (for assertion messages). */
  std::string logs() const;

 private:
  std::string dir_;
  sentinel_options opts_;
  std::vector<std::unique_ptr<redis_server>> nodes_;
  std::vector<int> sentinel_ports_;
  std::vector<std::unique_ptr<process>> sentinels_;
};

/** True when Debian's redis-sentinel is installed (scripts/setup.sh). */
bool have_redis_sentinel();

}  // namespace pdl::test
