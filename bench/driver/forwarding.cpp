// Forwarding a 100 MB document: the agent (source -> agent -> store) against two floors measured
// in the same run with the same source and a fresh stand-in each: a raw loopback copy (one
// process streaming the source's bytes into the store, no validation) and a direct PUT of the
// file into the store. Also the agent's memory: idle (connected, empty store) by mapping
// (smaps.hpp), and its private memory sampled through the forwarding.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"
#include "bench/driver/smaps.hpp"

namespace pdl::bench {

using namespace std::chrono_literals;

void run_forwarding(const bench_setup& s, int run, run_result& out) {
  std::string dir = s.work_dir + "/forwarding-" + std::to_string(run);
  std::filesystem::create_directories(dir);
  fleet f(dir);
  const std::string target = "/v1/data/bench/doc";
  const double mb = static_cast<double>(s.doc_100mb_bytes) / 1e6;
  int source = f.start_source({{"/doc", s.doc_100mb}}).port;

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
  auto& a = f.start_agent(store, "bench", s.agent_env);
  f.wait_ready(a);
  std::this_thread::sleep_for(500ms);  // let start-up work (first probe, marker write) finish
  auto idle = read_profile(a.proc->pid());
  auto mib = [](std::int64_t kb) { return static_cast<double>(kb) / 1024.0; };
  out.values["agent_idle_rss_mb"] = mib(idle.vm_rss_kb);
  out.values["agent_idle_private_mb"] = mib(idle.total.own_kb());
  out.values["agent_idle_anon_mb"] = mib(idle.total.anon_kb);
  out.values["agent_idle_dirty_file_mb"] = mib(idle.total.private_dirty_file_kb);
  out.values["agent_idle_private_all_mb"] = mib(idle.total.private_kb());
  out.values["agent_idle_pss_mb"] = mib(idle.total.pss_kb);
  out.values["agent_idle_curl_rss_mb"] = mib(idle.curl.rss_kb);
  out.values["agent_idle_curl_pss_mb"] = mib(idle.curl.pss_kb);
  out.values["agent_idle_curl_private_mb"] = mib(idle.curl.own_kb());
  out.values["agent_idle_curl_deps_rss_mb"] = mib(idle.curl_deps.rss_kb);
  out.values["agent_idle_curl_deps_pss_mb"] = mib(idle.curl_deps.pss_kb);
  out.values["agent_idle_curl_deps_private_mb"] = mib(idle.curl_deps.own_kb());
  out.values["agent_idle_openssl_rss_mb"] = mib(idle.openssl.rss_kb);
  out.values["agent_idle_openssl_private_mb"] = mib(idle.openssl.own_kb());
  out.values["agent_idle_threads"] = static_cast<double>(idle.threads);
  out.notes["agent_idle_rss_mb"] =
      "idle VmRSS " + std::to_string(idle.vm_rss_kb) + " KiB = RssAnon " +
      std::to_string(idle.rss_anon_kb) + " KiB + RssFile " + std::to_string(idle.rss_file_kb) +
      " KiB; file pages by group: the executable " + std::to_string(idle.binary.rss_kb) +
      " KiB, libcurl " + std::to_string(idle.curl.rss_kb) + " KiB, libcurl's " +
      std::to_string(idle.curl_dep_names.size()) + " dependencies " +
      std::to_string(idle.curl_deps.rss_kb) + " KiB, OpenSSL " + std::to_string(idle.openssl.rss_kb) +
      " KiB, the other libraries " +
      std::to_string(idle.other_libs.rss_kb) + " KiB (Rss, including their anonymous copies); " +
      std::to_string(idle.threads) + " threads";
  out.notes["agent_idle_private_mb"] =
      "idle private " + std::to_string(idle.total.own_kb()) + " KiB (RssAnon " +
      std::to_string(idle.total.anon_kb) + " + private dirty file pages " +
      std::to_string(idle.total.private_dirty_file_kb) + "); largest holders: " +
      top_private(idle, 8);
  out.notes["agent_mem_idle_table"] = profile_table(idle);
  std::string deps;
  for (const auto& name : idle.curl_dep_names) deps += (deps.empty() ? "" : ", ") + name;
  out.notes["agent_curl_deps"] = deps;

  std::string ds = f.token("datasource");
  nlohmann::json update = {
      {"entries",
       {{{"url", "http://127.0.0.1:" + std::to_string(source) + "/doc"},
         {"topics", {"bench"}},
         {"dst_path", "/bench/doc"},
         {"save_method", "PUT"}}}},
      {"reason", "bench: 100 MB document"}};
  // Sampled from before the publish until the store applied the write: the fetch, the
  // validation, the PUT and the store's parse (the agent holds its buffers until the answer).
  mem_sampler sampler(a.proc->pid(), 1ms);
  auto pub = f.publish(ds, update.dump());
  auto e = log.wait_for(target, 300s);
  sampler.stop();
  if (e.status != 204) throw std::runtime_error("agent's PUT answered " + std::to_string(e.status));
  auto after = read_profile(a.proc->pid());
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
  // Private memory at its peak: the highest RssAnon sample plus the private dirty file pages of
  // the profile taken nearest to it (a profile is read at each new RssAnon high); a profile or
  // the reading after the write can only be higher when file pages got dirty.
  const auto& at_peak = sampler.peak_profile();
  std::int64_t peak_private_kb =
      std::max({sampler.peak_anon_kb() + at_peak.total.private_dirty_file_kb,
                at_peak.total.own_kb(), after.total.own_kb()});
  out.values["agent_peak_private_mb"] = mib(peak_private_kb);
  out.values["agent_peak_growth_mb"] = mib(peak_private_kb - idle.total.own_kb());
  out.values["agent_peak_rss_mb"] = mib(after.vm_hwm_kb);
  out.values["agent_hwm_growth_mb"] = mib(after.vm_hwm_kb - idle.vm_rss_kb);
  out.values["agent_after_private_mb"] = mib(after.total.own_kb());
  std::string peak_note =
      "peak private " + std::to_string(peak_private_kb) + " KiB (RssAnon sampled every 1 ms, " +
      std::to_string(sampler.samples()) + " samples, highest " +
      std::to_string(sampler.peak_anon_kb()) + " KiB) against " +
      std::to_string(idle.total.own_kb()) + " KiB idle; largest holders at the peak: " +
      top_private(at_peak, 6) + "; after the write: private " +
      std::to_string(after.total.own_kb()) + " KiB, VmRSS " + std::to_string(after.vm_rss_kb) +
      " KiB, VmHWM " + std::to_string(after.vm_hwm_kb) + " KiB, " +
      std::to_string(after.threads) + " threads";
  out.notes["agent_peak_growth_mb"] = peak_note;
  out.notes["agent_hwm_growth_mb"] = peak_note;
  if (at_peak.total.rss_kb > 0) out.notes["agent_mem_peak_table"] = profile_table(at_peak);
}

}  // namespace pdl::bench
