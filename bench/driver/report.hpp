#pragma once
// docs/benchmarks.md from the runs: machine and commit, one table row per figure (median and
// min-max over the runs, the target, met / MISSED), a "Why" line per miss, the agent's memory by
// mapping, the hand-written notes (bench/notes.md), the method of each figure, and OPAL's
// figures quoted from the issue.
#include <cstdint>
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
  int fetch_once_agents = 0;          // agents in the fetch_once scenario
  std::uint64_t fetch_once_doc_bytes = 0;
  /** When this run measured only some scenarios: where the other figures come from. */
  std::string carried;
};

/** The whole Markdown document. The failures of the fetch_once scenario are left to its
 *  section; @p fetch_once_section (render_fetch_once, or the section of the previous document
 *  when this run did not measure it) goes just before the method. */
std::string render_report(const report_context& ctx, const std::vector<run_result>& runs,
                          const std::string& fetch_once_section = "");

/** The fetch_once scenario's section (issue 12): its own date, commit and load (a run of that
 *  scenario alone replaces only this section), both variants side by side with median and
 *  min-max, the source-GET targets, observations, failures and method, between
 *  fetch_once_begin and fetch_once_end. */
std::string render_fetch_once(const report_context& ctx, const std::vector<run_result>& runs);

inline constexpr const char* fetch_once_begin =
    "<!-- generated section fetch_once: bench/run.sh writes it; PDL_BENCH_ONLY=fetch_once "
    "replaces only this section -->";
inline constexpr const char* fetch_once_end = "<!-- end of generated section fetch_once -->";

/** The fetch_once section of @p doc, markers included; "" when it has none. */
std::string find_fetch_once(const std::string& doc);

/** @p doc with its fetch_once section replaced by @p section; a document without one gets it
 *  before its "## Method" heading (at the end when there is none either). */
std::string splice_fetch_once(const std::string& doc, const std::string& section);

}  // namespace pdl::bench
