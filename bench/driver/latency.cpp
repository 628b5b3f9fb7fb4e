// Publish accepted -> visible in the store: the time of the server's 200 to POST /data/config
// (taken right after the answer) against the time each stand-in logged the write as applied.
// Updates go one at a time: the next is published when every agent has applied the previous.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"

namespace pdl::bench {

using namespace std::chrono_literals;

namespace {

/** A DataUpdate whose inline data serialises to about 1 KB. */
std::string inline_update(int i) {
  nlohmann::json data = {{"id", i},
                         {"role", i % 2 ? "viewer" : "admin"},
                         {"groups", {"team-a", "team-b", "region-eu"}},
                         {"manager", nullptr},
                         {"pad", ""}};
  auto size = data.dump().size();
  data["pad"] = std::string(size < 1024 ? 1024 - size : 0, 'x');
  nlohmann::json update = {{"entries",
                            {{{"url", ""},
                              {"data", data},
                              {"topics", {"bench"}},
                              {"dst_path", "/bench/lat/" + std::to_string(i)},
                              {"save_method", "PUT"}}}},
                           {"reason", "bench latency"}};
  return update.dump();
}

}  // namespace

void run_latency(const bench_setup& s, int run, int agents, run_result& out) {
  std::string dir = s.work_dir + "/latency" + std::to_string(agents) + "-" + std::to_string(run);
  std::filesystem::create_directories(dir);
  fleet f(dir);
  f.start_server();
  std::vector<standin> stores;
  std::vector<agent*> as;
  std::vector<std::unique_ptr<write_log_reader>> logs;
  for (int k = 0; k < agents; ++k) {
    stores.push_back(f.start_standin());
    logs.push_back(std::make_unique<write_log_reader>(stores.back().write_log));
    as.push_back(&f.start_agent(stores.back(), "bench", s.agent_env));
  }
  for (auto* a : as) f.wait_ready(*a);
  std::string ds = f.token("datasource");

  const int warmup = 20;
  std::vector<double> last_ms;
  std::vector<double> each_ms;
  for (int i = 0; i < warmup + s.latency_updates; ++i) {
    auto pub = f.publish(ds, inline_update(i));
    std::string target = "/v1/data/bench/lat/" + std::to_string(i);
    double worst = -1e18;
    for (auto& log : logs) {
      auto e = log->wait_for(target, 30s);
      double ms = static_cast<double>(e.applied_ns - pub.ok_ns) / 1e6;
      worst = std::max(worst, ms);
      if (i >= warmup) each_ms.push_back(ms);
    }
    if (i >= warmup) last_ms.push_back(worst);
  }
  std::string key = agents == 1 ? "lat1" : "lat" + std::to_string(agents);
  out.values[key + "_p50_ms"] = percentile(last_ms, 50);
  out.values[key + "_p99_ms"] = percentile(last_ms, 99);
  out.values[key + "_max_ms"] = percentile(last_ms, 100);
  auto negative = std::count_if(each_ms.begin(), each_ms.end(), [](double v) { return v < 0; });
  std::string note = "per-write p50 " + num(percentile(each_ms, 50)) + " ms, p99 " +
                     num(percentile(each_ms, 99)) + " ms, max " +
                     num(percentile(each_ms, 100)) + " ms over " +
                     std::to_string(each_ms.size()) + " writes";
  if (negative > 0) {
    note += "; " + std::to_string(negative) + " writes were applied before the 200 reached the "
            "publisher (negative latencies)";
  }
  out.notes[key + "_p99_ms"] = note;
  out.notes[key + "_p50_ms"] = note;
}

}  // namespace pdl::bench
