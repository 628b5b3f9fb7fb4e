#pragma once
// Samples every stand-in's /v1/data while the suite runs and checks the order promise: per
// path, the "v" (update index) of what is stored never goes back within one engine phase. A
// phase is (stand-in incarnation, agent marker, agent incarnation): a fresh stand-in is rebuilt
// from the backup before the marker is written, so regressions before the marker appears are the
// rebuild itself, not disorder. Also collects every v seen, to check that nothing that was never
// acknowledged was applied.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/faults/cluster.hpp"

namespace pdl::test::faults {

class store_monitor {
 public:
  explicit store_monitor(cluster& c);
  ~store_monitor();  // stops the sampling thread

  /** Samples agent @p i's stand-in now (call before killing it, so its last state is checked). */
  void sample(int i);

  /** "agent 2 /a/b: v 17 after v 40 (stand-in #3, marker ...)" lines; empty = ordered. */
  std::vector<std::string> violations() const;
  /** Regressions across an agent restart with the engine kept (re-applied updates). */
  std::vector<std::string> restart_regressions() const;
  std::set<std::uint64_t> seen() const;
  std::size_t samples() const { return samples_.load(); }

  /** Marks agent @p i as restarted (a new phase); call after killing it. Samples its engine
   *  first: what it holds then was written by the dead agent, possibly by updates above its saved
   *  watermark (they finished out of order), which the successor replays older updates over. A
   *  drop from such an inherited value counts as a restart regression, not a violation. */
  void agent_restarted(int i);

 private:
  void run();
  void record(int agent, const nlohmann::json& doc, int incarnation);

  cluster& cluster_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<int, int> agent_generation_;  // guarded by mu_
  // agent -> phase key -> path -> last v        (guarded by mu_)
  std::map<int, std::map<std::string, std::map<std::string, std::uint64_t>>> last_;
  std::map<int, std::map<std::string, std::uint64_t>> last_in_engine_;  // agent -> "inc|marker|path"
  // agent -> "inc|marker|path" -> v: the latest sample, and the one taken at its last restart
  std::map<int, std::map<std::string, std::uint64_t>> last_sample_;
  std::map<int, std::map<std::string, std::uint64_t>> inherited_;
  std::vector<std::string> violations_;
  std::vector<std::string> restart_regressions_;
  std::set<std::uint64_t> seen_;
  std::atomic<std::size_t> samples_{0};
  std::thread thread_;
};

/** GET with a short timeout; status 0 on transport error. */
struct http_result {
  long status = 0;
  std::string body;
  bool transport_error = false;
  bool connect_error = false;
};
http_result http_do(const std::string& method, const std::string& url,
                    const std::string& bearer = {}, const std::string& body = {},
                    std::chrono::milliseconds idle = std::chrono::milliseconds(5000));

}  // namespace pdl::test::faults
