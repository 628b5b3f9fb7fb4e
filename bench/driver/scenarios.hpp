#pragma once
// The benchmark scenarios. Each starts its own processes (fleet.hpp) in a fresh sub-directory of
// the bench's work dir, measures, kills everything, and adds named values to a run_result.
// Every value is in the unit its name ends with (_mb, _ms, _s, _mbps, _x).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pdl::bench {

struct run_result {
  std::map<std::string, double> values;
  std::map<std::string, std::string> notes;  // observations shown under "Why" for a miss
};

struct bench_setup {
  std::string work_dir;        // temp dir of this bench invocation
  std::string doc_100mb;       // generated once per invocation
  std::uint64_t doc_100mb_bytes = 0;
  std::string doc_17mb;
  std::string doc_10mb;        // fetch_once's document, and its size and SHA-256
  std::uint64_t doc_10mb_bytes = 0;
  std::string doc_10mb_sha256;
  int fetch_once_agents = 100; // real agents in the fetch_once scenario
  int latency_updates = 200;   // measured updates per latency scenario (after 20 warm-up)
  int subscribers = 10000;
  /** Extra environment of every agent (PDL_BENCH_AGENT_ENV), e.g. MALLOC_ARENA_MAX=1 to measure
   *  a setting before it goes into the code; the report names it. */
  std::map<std::string, std::string> agent_env;
};

/** The agent's idle memory (VmRSS, private, PSS, libcurl's share), its peak private memory and
 *  VmHWM while forwarding the 100 MB document, and the forwarding's timings against a direct
 *  PUT and a raw loopback copy measured in the same run. */
void run_forwarding(const bench_setup& s, int run, run_result& out);

/** Publish accepted -> applied in the store(s), 1 KB inline PUT, to @p agents agents. */
void run_latency(const bench_setup& s, int run, int agents, run_result& out);

/** One server, s.subscribers WebSocket subscribers (bench_ws_swarm): RSS, and for a 1 KB then a
 *  100 KB update the fan-out time and the server's CPU per subscriber. Values fanout_*. */
void run_fanout(const bench_setup& s, int run, run_result& out);
/** The same with 50,000 subscribers (values fanout50k_*). */
void run_fanout_50k(const bench_setup& s, int run, run_result& out);

/** 4 replicas over one Redis, 25,000 subscribers each: publish -> last of the 100,000 notified,
 *  the Redis commands one update costs. Values replicas_*. */
void run_replicas_4x25k(const bench_setup& s, int run, run_result& out);
/** 100,000 subscribers on max(4, what the descriptor limit needs) replicas: replicas100k_*. */
void run_replicas_100k(const bench_setup& s, int run, run_result& out);

/** bench_ws_swarm's result file: the numbers in it (false when there are none yet). */
bool read_numbers(const std::string& path, std::vector<std::int64_t>& out);
/** A DataUpdate with one inline entry on topic "bench" carrying @p pad_bytes of padding. */
std::string padded_update(const std::string& dst, std::size_t pad_bytes);

/** Agent start -> /ready, empty base config, and with the 17 MB base document. */
void run_startup(const bench_setup& s, int run, run_result& out);

/** One update of the 10 MB document to s.fetch_once_agents real agents, (a) fetched once by the
 *  server ("fetched_by": "server") and (b) fetched by every agent, each on fresh processes:
 *  source GETs, publish -> last agent applied, the server's CPU time and memory, bytes moved.
 *  Values are named fo_a_* and fo_b_* (report.hpp renders them in their own section). */
void run_fetch_once(const bench_setup& s, int run, run_result& out);

}  // namespace pdl::bench
