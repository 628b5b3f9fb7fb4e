// Agent start -> /ready: from just before the fork to the first 200 of /ready (polled every
// 0.25 ms), with an empty base config, and with one base entry serving a 17 MB document.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"

namespace pdl::bench {

void run_startup(const bench_setup& s, int run, run_result& out) {
  std::string base = s.work_dir + "/startup-" + std::to_string(run);
  {
    std::filesystem::create_directories(base + "/empty");
    fleet f(base + "/empty");
    f.start_server();
    auto store = f.start_standin();
    auto& a = f.start_agent(store, "bench", s.agent_env);
    f.wait_ready(a);
    out.values["start_empty_ms"] = static_cast<double>(a.ready_ns - a.started_ns) / 1e6;
  }
  {
    std::filesystem::create_directories(base + "/base17");
    fleet f(base + "/base17");
    int source = f.start_source({{"/base", s.doc_17mb}}).port;
    nlohmann::json sources = {
        {"config",
         {{"entries",
           {{{"url", "http://127.0.0.1:" + std::to_string(source) + "/base"},
             {"topics", {"bench"}},
             {"dst_path", "/base"}}}}}}};
    f.start_server({{"OPAL_DATA_CONFIG_SOURCES", sources.dump()}});
    auto store = f.start_standin();
    write_log_reader log(store.write_log);
    auto& a = f.start_agent(store, "bench", s.agent_env);
    f.wait_ready(a);
    out.values["start_17mb_ms"] = static_cast<double>(a.ready_ns - a.started_ns) / 1e6;
    auto e = log.wait_for("/v1/data/base", std::chrono::seconds(5));
    out.notes["start_17mb_ms"] = "the store applied the 17 MB PUT " +
                                 num(static_cast<double>(e.applied_ns - a.started_ns) / 1e6) +
                                 " ms after the start; its parse took " +
                                 num(static_cast<double>(e.applied_ns - e.received_ns) / 1e6) +
                                 " ms of that";
  }
}

}  // namespace pdl::bench
