// One server, many WebSocket subscribers (bench_ws_swarm, one process): the server's RSS with
// all of them subscribed, and the time from the publish request to the last notify received.
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"

namespace pdl::bench {

using namespace std::chrono_literals;

namespace {

bool read_numbers(const std::string& path, std::vector<std::int64_t>& out) {
  std::ifstream in(path);
  std::int64_t v = 0;
  out.clear();
  while (in >> v) out.push_back(v);
  return !out.empty();
}

}  // namespace

void run_fanout(const bench_setup& s, int run, run_result& out) {
  std::string dir = s.work_dir + "/fanout-" + std::to_string(run);
  std::filesystem::create_directories(dir);
  fleet f(dir);
  f.start_server();  // inherits the driver's RLIMIT_NOFILE, raised to the hard limit in main
  auto base = read_mem(f.server_pid());
  write_text(f.file("client.token"), f.token("client") + "\n");
  std::string ds = f.token("datasource");
  std::string ready = f.file("swarm.ready");
  std::string result = f.file("swarm.result");
  auto t_open = now_ns();
  auto& swarm = f.start("swarm", "bench_ws_swarm",
                        {"--url", "ws" + f.server_url().substr(4) + "/ws", "--token-file",
                         f.file("client.token"), "--count", std::to_string(s.subscribers),
                         "--topic", "bench", "--ready-file", ready, "--result-file", result});
  std::vector<std::int64_t> nums;
  if (!test::poll_until([&] { return read_numbers(ready, nums) || !swarm.running(); }, 300s) ||
      nums.empty()) {
    throw std::runtime_error("subscribers did not all subscribe: " + swarm.log());
  }
  out.values["fanout_subscribe_all_s"] = static_cast<double>(now_ns() - t_open) / 1e9;
  std::this_thread::sleep_for(500ms);
  auto subscribed = read_mem(f.server_pid());

  nlohmann::json update = {{"entries",
                            {{{"url", ""},
                              {"data", {{"fanout", true}, {"pad", std::string(900, 'x')}}},
                              {"topics", {"bench"}},
                              {"dst_path", "/bench/fanout"},
                              {"save_method", "PUT"}}}},
                           {"reason", "bench fan-out"}};
  double server_cpu0 = cpu_ms(f.server_pid()), swarm_cpu0 = cpu_ms(swarm.pid());
  auto pub = f.publish(ds, update.dump());
  // Polls only decide when we look; the times come from the swarm's stamps.
  if (!test::poll_until([&] { return read_numbers(result, nums) || !swarm.running(); }, 120s) ||
      nums.size() < 3) {
    throw std::runtime_error("not every subscriber got the notify: " + swarm.log());
  }
  auto after = read_mem(f.server_pid());
  double server_cpu = cpu_ms(f.server_pid()) - server_cpu0;
  double swarm_cpu = cpu_ms(swarm.pid()) - swarm_cpu0;
  out.values["fanout_server_rss_mb"] = static_cast<double>(std::max(subscribed.rss_kb, after.rss_kb)) / 1024.0;
  out.values["fanout_deliver_ms"] = static_cast<double>(nums[1] - pub.sent_ns) / 1e6;
  out.values["fanout_first_ms"] = static_cast<double>(nums[0] - pub.sent_ns) / 1e6;
  out.values["fanout_after_200_ms"] = static_cast<double>(nums[1] - pub.ok_ns) / 1e6;
  double per_sub_kb = static_cast<double>(subscribed.rss_kb - base.rss_kb) / s.subscribers;
  out.notes["fanout_server_rss_mb"] =
      "server VmRSS " + std::to_string(base.rss_kb) + " KiB before, " +
      std::to_string(subscribed.rss_kb) + " KiB with all subscribed (" + num(per_sub_kb) +
      " KiB each), " + std::to_string(after.rss_kb) + " KiB after delivery, VmHWM " +
      std::to_string(after.hwm_kb) + " KiB";
  out.values["fanout_kb_per_subscriber"] = per_sub_kb;
  out.notes["fanout_deliver_ms"] = "first notify " + num(out.values["fanout_first_ms"]) +
                                   " ms after the publish request, last " +
                                   num(out.values["fanout_deliver_ms"]) + " ms; CPU used " +
                                   "meanwhile: server " + num(server_cpu) +
                                   " ms, the swarm (reading, decoding, answering) " +
                                   num(swarm_cpu) + " ms, on " +
                                   std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " shared cores";
  swarm.stop(5000ms);
}

}  // namespace pdl::bench
