// Forwarding a 100 MB document: the agent (source -> agent -> store) against two floors measured
// in the same run with the same source and a fresh stand-in each: a raw loopback copy (one
// process streaming the source's bytes into the store, no validation) and a direct PUT of the
// file into the store.
#include <cstdio>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"

namespace pdl::bench {

using namespace std::chrono_literals;

void run_forwarding(const bench_setup& s, int run, run_result& out) {
  std::string dir = s.work_dir + "/forwarding-" + std::to_string(run);
  std::filesystem::create_directories(dir);
  fleet f(dir);
  const std::string target = "/v1/data/bench/doc";
  const double mb = static_cast<double>(s.doc_100mb_bytes) / 1e6;
  int source = f.start_source({{"/doc", s.doc_100mb}});

  {  // Floor: a direct PUT of the file into a fresh store.
    auto store = f.start_standin();
    write_log_reader log(store.write_log);
    auto t0 = now_ns();
    int status = raw_put_file(store.port, target, s.doc_100mb);
    auto e = log.wait_for(target, 300s);
    if (status != 204) throw std::runtime_error("direct PUT answered " + std::to_string(status));
    out.values["direct_put_visible_s"] = static_cast<double>(e.applied_ns - t0) / 1e9;
    out.values["direct_put_upload_s"] = static_cast<double>(e.received_ns - t0) / 1e9;
    out.values["direct_put_apply_s"] = static_cast<double>(e.applied_ns - e.received_ns) / 1e9;
    store.proc->kill9();
  }
  {  // Floor: the raw loopback copy, source -> one process -> fresh store.
    auto store = f.start_standin();
    write_log_reader log(store.write_log);
    auto t0 = now_ns();
    raw_copy(source, "/doc", store.port, target);
    auto e = log.wait_for(target, 300s);
    out.values["raw_copy_mbps"] = mb / (static_cast<double>(e.received_ns - t0) / 1e9);
    store.proc->kill9();
  }

  f.start_server();
  auto store = f.start_standin();
  write_log_reader log(store.write_log);
  auto& a = f.start_agent(store);
  f.wait_ready(a);
  std::this_thread::sleep_for(500ms);  // let start-up work (first probe, marker write) finish
  auto idle = read_mem(a.proc->pid());
  out.values["agent_idle_rss_mb"] = static_cast<double>(idle.rss_kb) / 1024.0;
  out.values["agent_idle_anon_mb"] = static_cast<double>(idle.anon_kb) / 1024.0;
  out.notes["agent_idle_rss_mb"] = "idle VmRSS " + std::to_string(idle.rss_kb) + " KiB = RssAnon " +
                                   std::to_string(idle.anon_kb) + " KiB (heap, stacks) + RssFile " +
                                   std::to_string(idle.file_kb) + " KiB (binary, libraries), " +
                                   std::to_string(idle.threads) + " threads; largest mappings: " + top_mappings(a.proc->pid(), 6);

  std::string ds = f.token("datasource");
  nlohmann::json update = {
      {"entries",
       {{{"url", "http://127.0.0.1:" + std::to_string(source) + "/doc"},
         {"topics", {"bench"}},
         {"dst_path", "/bench/doc"},
         {"save_method", "PUT"}}}},
      {"reason", "bench: 100 MB document"}};
  auto pub = f.publish(ds, update.dump());
  auto e = log.wait_for(target, 300s);
  if (e.status != 204) throw std::runtime_error("agent's PUT answered " + std::to_string(e.status));
  auto peak = read_mem(a.proc->pid());
  double agent_s = static_cast<double>(e.received_ns - pub.ok_ns) / 1e9;
  out.values["agent_forward_mbps"] = mb / agent_s;
  out.values["forward_ratio_x"] = out.values["agent_forward_mbps"] / out.values["raw_copy_mbps"];
  out.values["agent_visible_s"] = static_cast<double>(e.applied_ns - pub.ok_ns) / 1e9;
  out.values["visible_ratio_x"] = out.values["agent_visible_s"] / out.values["direct_put_visible_s"];
  double agent_apply_s = static_cast<double>(e.applied_ns - e.received_ns) / 1e9;
  char split[256];
  std::snprintf(split, sizeof split,
                "agent %.2f s = %.2f s publish -> last byte in the store + %.2f s store parse; "
                "direct PUT %.2f s = %.2f s upload + %.2f s store parse",
                out.values["agent_visible_s"], agent_s, agent_apply_s,
                out.values["direct_put_visible_s"], out.values["direct_put_upload_s"],
                out.values["direct_put_apply_s"]);
  out.notes["visible_ratio_x"] = split;
  out.notes["forward_ratio_x"] = split;
  out.values["agent_peak_rss_mb"] = static_cast<double>(peak.hwm_kb) / 1024.0;
  out.values["agent_peak_over_idle_mb"] = static_cast<double>(peak.hwm_kb - idle.rss_kb) / 1024.0;
  out.notes["agent_peak_over_idle_mb"] =
      "VmHWM " + std::to_string(peak.hwm_kb) + " KiB; after the write VmRSS " +
      std::to_string(peak.rss_kb) + " KiB (RssAnon " + std::to_string(peak.anon_kb) +
      ", RssFile " + std::to_string(peak.file_kb) + "), " + std::to_string(peak.threads) +
      " threads";
}

}  // namespace pdl::bench
