#include "shared/metrics/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace pdl::metrics {
namespace {

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{}", v);
}

void escape_into(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

histogram::histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size() + 1) {}

std::vector<double> histogram::latency_bounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void histogram::observe(double value) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + value, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.bounds = bounds_;
  std::uint64_t running = 0;
  for (const auto& b : buckets_) {
    running += b.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;  // consistent with the buckets even while observations race
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

void writer::header(std::string_view name, std::string_view help, std::string_view type) {
  if (described_.count(name) != 0) return;
  described_.emplace(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  escape_into(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void writer::sample(std::string_view name, const labels& l, double value,
                    const std::pair<std::string, std::string>* extra) {
  out_ += name;
  if (!l.empty() || extra != nullptr) {
    out_ += '{';
    bool first = true;
    auto one = [&](const std::pair<std::string, std::string>& kv) {
      if (!first) out_ += ',';
      first = false;
      out_ += kv.first;
      out_ += "=\"";
      escape_into(out_, kv.second, true);
      out_ += '"';
    };
    for (const auto& kv : l) one(kv);
    if (extra != nullptr) one(*extra);
    out_ += '}';
  }
  out_ += ' ';
  out_ += number(value);
  out_ += '\n';
}

void writer::counter(std::string_view name, std::string_view help, double value,
                     const labels& l) {
  header(name, help, "counter");
  sample(name, l, value);
}

void writer::gauge(std::string_view name, std::string_view help, double value, const labels& l) {
  header(name, help, "gauge");
  sample(name, l, value);
}

void writer::histogram(std::string_view name, std::string_view help,
                       const histogram::snapshot& h, const labels& l) {
  header(name, help, "histogram");
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
    const std::pair<std::string, std::string> le{
        "le", i < h.bounds.size() ? number(h.bounds[i]) : std::string("+Inf")};
    sample(bucket, l, static_cast<double>(h.cumulative[i]), &le);
  }
  sample(std::string(name) + "_sum", l, h.sum);
  sample(std::string(name) + "_count", l, static_cast<double>(h.count));
}

void write_process_metrics(writer& w) {
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  if (statm >> size >> resident) {
    w.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", resident * page);
    w.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", size * page);
  }
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    w.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              cpu);
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    int n = 0;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    w.gauge("process_open_fds", "Number of open file descriptors.", n - 1);  // minus the DIR's own
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    w.gauge("process_max_fds", "Maximum number of open file descriptors.",
            static_cast<double>(rl.rlim_cur));
  }
  // Start time: boot time + the process's start in clock ticks (/proc/self/stat field 22).
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  std::ifstream proc_stat("/proc/stat");
  double btime = 0;
  for (std::string l; std::getline(proc_stat, l);) {
    if (l.rfind("btime ", 0) == 0) btime = std::stod(l.substr(6));
  }
  if (close != std::string::npos && btime > 0) {
    std::istringstream fields(line.substr(close + 2));
    std::string f;
    for (int i = 3; i <= 22 && fields >> f; ++i) {
      if (i == 22) {
        w.gauge("process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                btime + std::stod(f) / static_cast<double>(::sysconf(_SC_CLK_TCK)));
      }
    }
  }
}

void registry::add(collector c) {
  std::lock_guard lk(mu_);
  collectors_.push_back(std::move(c));
}

std::string registry::render() const {
  writer w;
  write_process_metrics(w);
  std::lock_guard lk(mu_);
  for (const auto& c : collectors_) c(w);
  return w.take();
}

}  // namespace pdl::metrics
