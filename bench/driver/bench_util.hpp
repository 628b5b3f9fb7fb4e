#pragma once
// Small measuring tools for the benchmark driver: wall clock in ns, a process's memory from
// /proc, the OPA stand-in's --write-log as it grows, blocking loopback HTTP over plain sockets
// (so a floor is not slowed by a client library), and percentiles.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pdl::bench {

/** CLOCK_REALTIME in ns: the clock opa-standin's --write-log and bench_ws_swarm stamp with. */
std::int64_t now_ns();

/** /proc/<pid>/status fields, in KiB (0 when absent). */
struct mem_status {
  std::int64_t rss_kb = 0;       // VmRSS
  std::int64_t hwm_kb = 0;       // VmHWM (peak RSS)
  std::int64_t anon_kb = 0;      // RssAnon (heap, stacks)
  std::int64_t file_kb = 0;      // RssFile (mapped binary and libraries)
  std::int64_t threads = 0;
};
/** @throws std::runtime_error when the process is gone. */
mem_status read_mem(int pid);

/** CPU time (user + system) the process has used so far, in ms (10 ms resolution). */
double cpu_ms(int pid);
/** The same from the scheduler (/proc/<pid>/task/<tid>/schedstat, summed over the threads
 *  alive now): ns resolution. */
double cpu_ms_precise(int pid);

/** CPU time every process of the machine has used so far (user, nice, system, irq, softirq,
 *  steal from the first line of /proc/stat; idle and iowait not counted), in ms, summed over
 *  the cores. */
double machine_busy_ms();

/** One line of opa-standin --write-log. */
struct write_entry {
  std::int64_t applied_ns = 0;
  std::string method;
  std::string path;
  std::uint64_t bytes = 0;
  int status = 0;
  std::int64_t received_ns = 0;
};

/** Reads the lines appended to a write log since the last call. */
class write_log_reader {
 public:
  explicit write_log_reader(std::string path) : path_(std::move(path)) {}
  /** New complete lines (a partial last line waits for the next call). */
  std::vector<write_entry> read_new();
  /** Waits (polling the file every 0.2 ms: this only decides when we look, the times come from
   *  the log) until a line whose path is @p path appears. @throws std::runtime_error on timeout. */
  write_entry wait_for(const std::string& path, std::chrono::milliseconds timeout);

 private:
  std::string path_;
  std::uint64_t offset_ = 0;
  std::string partial_;
  std::vector<write_entry> backlog_;
};

/** GET http://127.0.0.1:<port><target> over a fresh connection; returns the status (0 when
 *  the connection fails). */
int raw_get_status(int port, const std::string& target);

/** PUT of @p file's bytes to 127.0.0.1:<port><target>, streamed from disk; returns the status. */
int raw_put_file(int port, const std::string& target, const std::string& file);

/** Streams GET 127.0.0.1:<src_port><src_target> into PUT 127.0.0.1:<dst_port><dst_target>
 *  (Content-Length passed through), 256 KiB at a time: the raw loopback copy floor. Returns the
 *  bytes copied. @throws std::runtime_error on any failure. */
std::uint64_t raw_copy(int src_port, const std::string& src_target, int dst_port,
                       const std::string& dst_target);

/** Nearest-rank percentile (0..100) of @p v (copied, sorted). 0 for an empty vector. */
double percentile(std::vector<double> v, double p);

/** @p v with one decimal ("12.3"), for notes. */
std::string num(double v);

/** Writes @p text to @p path (truncating). @throws std::runtime_error. */
void write_text(const std::string& path, const std::string& text);

/** Generates a JSON object of about @p bytes bytes (users with names, roles, groups, numbers,
 *  nulls) into @p path; returns the exact size. */
std::uint64_t generate_json(const std::string& path, std::uint64_t bytes);

}  // namespace pdl::bench
