#pragma once
// Prometheus metrics, pull style: components keep their own atomics (counters, gauges,
// histograms below) and register a collector that writes them when /metrics is scraped. No
// global state and no locks on the hot path: a counter is one relaxed atomic add.
//
// Text exposition format 0.0.4: `# HELP`, `# TYPE`, then `name{label="value"} number` lines;
// histograms as cumulative `_bucket{le=...}`, `_sum`, `_count`.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pdl::metrics {

using labels = std::vector<std::pair<std::string, std::string>>;

/** A fixed-bucket histogram; observe() is lock-free. Bounds ascending, +Inf implied. */
class histogram {
 public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double value) noexcept;

  struct snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  snapshot read() const;

  /** Seconds: 0.5 ms .. 60 s, for latencies and durations. */
  static std::vector<double> latency_bounds();

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> buckets_;  // per bucket (not cumulative), + overflow
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

/** Writes one scrape. HELP/TYPE go out once per metric name, before its first sample. */
class writer {
 public:
  void counter(std::string_view name, std::string_view help, double value,
               const labels& l = {});
  void gauge(std::string_view name, std::string_view help, double value, const labels& l = {});
  void histogram(std::string_view name, std::string_view help, const histogram::snapshot& h,
                 const labels& l = {});
  std::string take() { return std::move(out_); }

 private:
  void header(std::string_view name, std::string_view help, std::string_view type);
  void sample(std::string_view name, const labels& l, double value,
              const std::pair<std::string, std::string>* extra = nullptr);
  std::string out_;
  std::set<std::string, std::less<>> described_;
};

/** process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
 *  process_open_fds, process_max_fds, process_start_time_seconds (from /proc/self). */
void write_process_metrics(writer& w);

/** Collectors registered by components; render() calls each in registration order. */
class registry {
 public:
  using collector = std::function<void(writer&)>;
  void add(collector c);
  /** The whole scrape, process metrics first. Thread-safe. */
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::vector<collector> collectors_;
};

/** Content-Type of the text format. */
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace pdl::metrics
