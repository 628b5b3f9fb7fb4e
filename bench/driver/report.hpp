#pragma once
// docs/benchmarks.md from the runs: machine and commit, one table row per figure (median and
// min-max over the runs, the target, met / MISSED), a "Why" line per miss, the agent's memory by
// mapping, the hand-written notes (bench/notes.md), the method of each figure, and OPAL's
// figures quoted from the issue.
#include <string>
#include <vector>

#include "bench/driver/scenarios.hpp"

namespace pdl::bench {

struct report_context {
  std::string commit;          // "abc1234" or "abc1234+dirty"
  std::string date;            // UTC, ISO 8601
  int cores = 0;
  std::string cpu_model;
  std::string load_before;     // /proc/loadavg's first three numbers
  std::string load_after;
  int runs = 0;
  int subscribers = 0;
  int latency_updates = 0;
  std::string why_file;        // bench/why.txt: "figure_id: explanation" lines (optional)
  std::string agent_env;       // extra environment of the agents ("K=V ..."), empty if none
  std::string notes_file;      // bench/notes.md: hand-written sections, copied in (optional)
  std::vector<std::string> failures;  // "run 2, fanout: <what>"
};

/** The whole Markdown document. */
std::string render_report(const report_context& ctx, const std::vector<run_result>& runs);

}  // namespace pdl::bench
