// One server, many WebSocket subscribers (bench_ws_swarm, one process): the server's RSS with
// all of them subscribed, and for a 1 KB and then a 100 KB update the time from the publish
// request to the last notify received and the server's CPU per subscriber.
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"

namespace pdl::bench {

using namespace std::chrono_literals;

bool read_numbers(const std::string& path, std::vector<std::int64_t>& out) {
  std::ifstream in(path);
  std::int64_t v = 0;
  out.clear();
  while (in >> v) out.push_back(v);
  return !out.empty();
}

double settled_cpu_ms(int pid) {
  // The server goes on reading the subscribers' answers after the last notify left: wait until
  // its CPU time stops moving (50 ms without a change), so the figure covers the whole
  // exchange. Polls only decide when we look.
  double last = cpu_ms_precise(pid);
  auto still_since = std::chrono::steady_clock::now();
  const auto deadline = still_since + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    double now = cpu_ms_precise(pid);
    if (now - last > 0.2) {
      last = now;
      still_since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - still_since >= 50ms) {
      break;
    }
  }
  return last;
}

std::string padded_update(const std::string& dst, std::size_t pad_bytes) {
  nlohmann::json update = {{"entries",
                            {{{"url", ""},
                              {"data", {{"fanout", true}, {"pad", std::string(pad_bytes, 'x')}}},
                              {"topics", {"bench"}},
                              {"dst_path", dst},
                              {"save_method", "PUT"}}}},
                           {"reason", "bench fan-out"}};
  return update.dump();
}

void run_fanout(const bench_setup& s, int run, int subscribers, const std::string& name,
                run_result& out) {
  std::string dir = s.work_dir + "/" + name + "-" + std::to_string(run);
  std::filesystem::create_directories(dir);
  fleet f(dir);
  f.start_server();  // inherits the driver's RLIMIT_NOFILE, raised in main
  auto base = read_mem(f.server_pid());
  write_text(f.file("client.token"), f.token("client") + "\n");
  std::string ds = f.token("datasource");
  auto t_open = now_ns();
  auto swarms = f.start_swarms({"ws" + f.server_url().substr(4) + "/ws"}, f.file("client.token"),
                               subscribers, 2);
  if (!test::poll_until([&] { return swarms.all_ready(); }, 900s)) {
    throw std::runtime_error("subscribers did not all subscribe");
  }
  out.values[name + "_subscribers"] = subscribers;
  out.values[name + "_subscribe_all_s"] = static_cast<double>(now_ns() - t_open) / 1e9;
  settled_cpu_ms(f.server_pid());
  auto subscribed = read_mem(f.server_pid());

  struct round {
    const char* key;
    std::size_t pad;
  };
  const round rounds[] = {{"", 900}, {"_100kb", 100'000}};
  std::size_t r = 0;
  for (const auto& rd : rounds) {
    ++r;
    std::string update = padded_update("/bench/" + name + std::to_string(r), rd.pad);
    double server_cpu0 = settled_cpu_ms(f.server_pid());
    double swarm_cpu0 = swarms.cpu_ms();
    auto pub = f.publish(ds, update);
    // Polls only decide when we look; the times come from the swarms' stamps.
    std::int64_t first = 0, last = 0;
    if (!test::poll_until([&] { return swarms.round_done(r, first, last); }, 300s)) {
      throw std::runtime_error("not every subscriber got notify " + std::to_string(r));
    }
    double server_cpu = settled_cpu_ms(f.server_pid()) - server_cpu0;
    double swarm_cpu = swarms.cpu_ms() - swarm_cpu0;
    const std::string k = name + rd.key;
    out.values[k + "_deliver_ms"] = static_cast<double>(last - pub.sent_ns) / 1e6;
    out.values[k + "_first_ms"] = static_cast<double>(first - pub.sent_ns) / 1e6;
    out.values[k + "_cpu_us_per_sub"] = server_cpu * 1000.0 / subscribers;
    out.values[k + "_swarm_cpu_us_per_sub"] = swarm_cpu * 1000.0 / subscribers;
    out.notes[k + "_deliver_ms"] =
        std::to_string(subscribers) + " subscribers (" + std::to_string(swarms.procs.size()) +
        " swarm processes), update of " + std::to_string(update.size()) +
        " bytes; first notify " + num(out.values[k + "_first_ms"]) +
        " ms after the publish request, last " + num(out.values[k + "_deliver_ms"]) +
        " ms; CPU used (until the server's settled): server " + num(server_cpu) +
        " ms, the swarms (reading, answering) " + num(swarm_cpu) + " ms, on " +
        std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " shared cores";
    out.notes[k + "_cpu_us_per_sub"] = out.notes[k + "_deliver_ms"];
  }
  auto after = read_mem(f.server_pid());
  out.values[name + "_server_rss_mb"] =
      static_cast<double>(std::max(subscribed.rss_kb, after.rss_kb)) / 1024.0;
  double per_sub_kb = static_cast<double>(subscribed.rss_kb - base.rss_kb) / subscribers;
  out.values[name + "_kb_per_subscriber"] = per_sub_kb;
  out.notes[name + "_server_rss_mb"] =
      std::to_string(subscribers) + " subscribers; server VmRSS " + std::to_string(base.rss_kb) +
      " KiB before, " + std::to_string(subscribed.rss_kb) + " KiB with all subscribed (" +
      num(per_sub_kb) + " KiB each), " + std::to_string(after.rss_kb) +
      " KiB after delivery, VmHWM " + std::to_string(after.hwm_kb) + " KiB";
  out.notes[name + "_kb_per_subscriber"] = out.notes[name + "_server_rss_mb"];
  swarms.stop();
}

void run_fanout(const bench_setup& s, int run, run_result& out) {
  run_fanout(s, run, s.subscribers, "fanout", out);
}

void run_fanout_50k(const bench_setup& s, int run, run_result& out) {
  // One process may hold only RLIMIT_NOFILE descriptors: where the hard limit is below 50,000
  // and cannot be raised (no CAP_SYS_RESOURCE), the server gets as many as it can hold.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const int most = rl.rlim_max > 2000 ? static_cast<int>(rl.rlim_max) - 1000 : 1000;
  run_fanout(s, run, std::min(50000, most), "fanout50k", out);
}

}  // namespace pdl::bench
