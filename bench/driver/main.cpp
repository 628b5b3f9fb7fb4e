// pdl_bench: runs the benchmark scenarios (scenarios.hpp) --runs times and writes the report.
//   pdl_bench --out docs/benchmarks.md [--runs 5] [--work DIR] [--commit abc1234]
//             [--only forwarding,latency1,latency10,fanout,fanout50k,replicas,replicas100k,startup,fetch_once]
//             [--why bench/why.txt]
//             [--notes bench/notes.md] [--agent-env "K=V K2=V2"] [--save results.json]
//   pdl_bench --render results.json --out docs/benchmarks.md [--why ...] [--notes ...]
//             renders the report again from saved measurements (after why.txt or notes.md changed)
//             [--subscribers 10000] [--updates 200] [--fetch-once-agents 100]
// fetch_once's figures have a section of their own in the report (report.hpp): --only fetch_once
// replaces only that section of an existing --out and only its part of --save.
// bench/run.sh builds it and calls it. Per-run values are printed as they come.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/report.hpp"
#include "bench/driver/scenarios.hpp"
#include "shared/auth/sha256.hpp"
#include "shared/log/log.hpp"
#include "tests/support/process.hpp"

namespace {

using namespace pdl::bench;

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

/** Writes back the page cache of the binaries the scenarios start. bench/run.sh has usually
 *  just linked them, and until the kernel writes a fresh file back, smaps counts its pages as
 *  the mapping process's Private_Dirty: ~5 MB of the agent's text would pass for its own dirty
 *  memory. */
void flush_binaries() {
  for (const char* name : {"opal-client", "opal-server", "opa-standin", "fake-data-source",
                           "bench_ws_swarm"}) {
    int fd = ::open(pdl::test::binary_path(name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
}

/** The measurements of an invocation, so the report can be rendered again (--render) after
 *  bench/why.txt or bench/notes.md changed, without measuring again. */
nlohmann::json measured_json(const report_context& ctx, const std::vector<run_result>& results) {
  nlohmann::json j = {{"commit", ctx.commit},         {"date", ctx.date}, {"carried", ctx.carried},
                      {"cores", ctx.cores},           {"cpu_model", ctx.cpu_model},
                      {"load_before", ctx.load_before}, {"load_after", ctx.load_after},
                      {"runs", ctx.runs},             {"subscribers", ctx.subscribers},
                      {"latency_updates", ctx.latency_updates}, {"agent_env", ctx.agent_env},
                      {"fetch_once_agents", ctx.fetch_once_agents},
                      {"fetch_once_doc_bytes", ctx.fetch_once_doc_bytes},
                      {"failures", ctx.failures},     {"results", nlohmann::json::array()}};
  for (const auto& r : results) j["results"].push_back({{"values", r.values}, {"notes", r.notes}});
  return j;
}

void measured_from_json(const nlohmann::json& j, report_context& ctx,
                        std::vector<run_result>& results) {
  ctx.commit = j.at("commit");
  ctx.date = j.at("date");
  ctx.cores = j.at("cores");
  ctx.cpu_model = j.at("cpu_model");
  ctx.load_before = j.at("load_before");
  ctx.load_after = j.at("load_after");
  ctx.runs = j.at("runs");
  ctx.subscribers = j.at("subscribers");
  ctx.latency_updates = j.at("latency_updates");
  ctx.agent_env = j.at("agent_env");
  ctx.fetch_once_agents = j.value("fetch_once_agents", 0);
  ctx.fetch_once_doc_bytes = j.value("fetch_once_doc_bytes", std::uint64_t{0});
  ctx.failures = j.at("failures").get<std::vector<std::string>>();
  ctx.carried = j.value("carried", std::string{});
  for (const auto& r : j.at("results")) {
    run_result one;
    one.values = r.at("values").get<std::map<std::string, double>>();
    one.notes = r.at("notes").get<std::map<std::string, std::string>>();
    results.push_back(std::move(one));
  }
}

/** The fetch_once scenario's values and notes (named fo_*) and failures only. */
void only_fetch_once(report_context& ctx, std::vector<run_result>& results) {
  for (auto& r : results) {
    std::erase_if(r.values, [](const auto& kv) { return kv.first.rfind("fo_", 0) != 0; });
    std::erase_if(r.notes, [](const auto& kv) { return kv.first.rfind("fo_", 0) != 0; });
  }
  std::erase_if(ctx.failures,
                [](const std::string& f) { return f.find(", fetch_once: ") == std::string::npos; });
}

/** The whole file, "" when it cannot be read. */
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/** The saved measurements at @p path: null when there are none. A file saved by a run of
 *  fetch_once alone holds only {"fetch_once": ...}; the other scenarios' are at the top level. */
nlohmann::json read_saved(const std::string& path) {
  auto text = read_text(path);
  if (text.empty()) return nullptr;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_path, work, commit = "unknown", why, notes, save, render;
  std::set<std::string> only;
  int runs = 5;
  bench_setup setup;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], v = argv[i + 1];
    if (flag == "--out") out_path = v;
    else if (flag == "--runs") runs = std::max(1, std::stoi(v));
    else if (flag == "--work") work = v;
    else if (flag == "--commit") commit = v;
    else if (flag == "--why") why = v;
    else if (flag == "--notes") notes = v;
    else if (flag == "--save") save = v;
    else if (flag == "--render") render = v;
    else if (flag == "--agent-env") {
      // "K=V K2=V2": extra environment of every agent.
      std::stringstream ss(v);
      for (std::string kv; ss >> kv;) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          std::fprintf(stderr, "pdl_bench: --agent-env wants K=V, got %s\n", kv.c_str());
          return 2;
        }
        setup.agent_env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }    else if (flag == "--subscribers") setup.subscribers = std::stoi(v);
    else if (flag == "--updates") setup.latency_updates = std::stoi(v);
    else if (flag == "--fetch-once-agents") setup.fetch_once_agents = std::max(1, std::stoi(v));
    else if (flag == "--only") {
      std::stringstream ss(v);
      for (std::string s; std::getline(ss, s, ',');) only.insert(s);
    } else {
      std::fprintf(stderr, "pdl_bench: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (out_path.empty()) {
    std::fprintf(stderr, "pdl_bench: --out FILE is required\n");
    return 2;
  }
  if (!render.empty()) {
    auto saved = read_saved(render);
    if (!saved.is_object()) {
      std::fprintf(stderr, "pdl_bench: cannot read %s\n", render.c_str());
      return 1;
    }
    const std::string old_doc = read_text(out_path);
    std::string section = find_fetch_once(old_doc);
    if (saved.contains("fetch_once")) {
      report_context fo_ctx;
      std::vector<run_result> fo_results;
      measured_from_json(saved["fetch_once"], fo_ctx, fo_results);
      section = render_fetch_once(fo_ctx, fo_results);
    }
    if (saved.contains("commit")) {
      report_context ctx;
      std::vector<run_result> results;
      measured_from_json(saved, ctx, results);
      ctx.why_file = why;
      ctx.notes_file = notes;
      write_text(out_path, render_report(ctx, results, section));
    } else {
      write_text(out_path, splice_fetch_once(old_doc, section));
    }
    std::cout << "wrote " << out_path << " from " << render << "\n";
    return 0;
  }
  pdl::log::init("warn");
  flush_binaries();
  // The server and the swarm each hold one descriptor per subscriber; children inherit this.
  // As root the hard limit is raised too (what `ulimit -Hn`, systemd's LimitNOFILE or a
  // container's --ulimit do in production; docs/operations.md), for the 50,000 and the 4 x
  // 25,000 subscribers.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_max < 262144) {
      rlimit raised{262144, 262144};
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  bool own_work = work.empty();
  if (own_work) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pdl-bench-XXXXXX").string();
    work = ::mkdtemp(tmpl.data());
  }
  std::filesystem::create_directories(work);
  setup.work_dir = work;
  auto wanted = [&](const std::string& s) { return only.empty() || only.count(s) > 0; };

  report_context ctx;
  ctx.commit = commit;
  ctx.date = utc_now();
  ctx.cores = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  ctx.cpu_model = cpu_model();
  ctx.load_before = loadavg();
  ctx.runs = runs;
  ctx.subscribers = setup.subscribers;
  ctx.latency_updates = setup.latency_updates;
  ctx.why_file = why;
  ctx.notes_file = notes;
  ctx.fetch_once_agents = setup.fetch_once_agents;
  for (const auto& [k, v] : setup.agent_env) {
    ctx.agent_env += (ctx.agent_env.empty() ? "" : " ") + k + "=" + v;
  }

  if (wanted("forwarding")) {
    setup.doc_100mb = work + "/doc-100mb.json";
    setup.doc_100mb_bytes = generate_json(setup.doc_100mb, 100'000'000);
  }
  if (wanted("startup")) {
    setup.doc_17mb = work + "/doc-17mb.json";
    generate_json(setup.doc_17mb, 17'000'000);
  }
  if (wanted("fetch_once")) {
    setup.doc_10mb = work + "/doc-10mb.json";
    setup.doc_10mb_bytes = generate_json(setup.doc_10mb, 10'000'000);
    setup.doc_10mb_sha256 = pdl::auth::sha256_file_hex(setup.doc_10mb);
    ctx.fetch_once_doc_bytes = setup.doc_10mb_bytes;
  }

  std::vector<run_result> results(static_cast<std::size_t>(runs));
  struct scenario {
    const char* name;
    std::function<void(int, run_result&)> fn;
  };
  std::vector<scenario> scenarios = {
      {"startup", [&](int r, run_result& o) { run_startup(setup, r, o); }},
      {"latency1", [&](int r, run_result& o) { run_latency(setup, r, 1, o); }},
      {"latency10", [&](int r, run_result& o) { run_latency(setup, r, 10, o); }},
      {"fanout", [&](int r, run_result& o) { run_fanout(setup, r, o); }},
      {"fanout50k", [&](int r, run_result& o) { run_fanout_50k(setup, r, o); }},
      {"replicas", [&](int r, run_result& o) { run_replicas_4x25k(setup, r, o); }},
      {"replicas100k", [&](int r, run_result& o) { run_replicas_100k(setup, r, o); }},
      {"forwarding", [&](int r, run_result& o) { run_forwarding(setup, r, o); }},
      {"fetch_once", [&](int r, run_result& o) { run_fetch_once(setup, r, o); }},
  };
  for (int r = 0; r < runs; ++r) {
    for (const auto& sc : scenarios) {
      if (!wanted(sc.name)) continue;
      std::cout << "run " << r + 1 << "/" << runs << ": " << sc.name << " ..." << std::flush;
      run_result one;
      try {
        sc.fn(r, one);
      } catch (const std::exception& e) {
        std::string what = e.what();
        if (what.size() > 600) what = what.substr(0, 600) + "…";
        ctx.failures.push_back("run " + std::to_string(r + 1) + ", " + sc.name + ": " + what);
        std::cout << " FAILED: " << what << "\n";
      }
      for (const auto& [k, v] : one.values) {
        results[static_cast<std::size_t>(r)].values[k] = v;
        std::cout << " " << k << "=" << v;
      }
      for (const auto& [k, v] : one.notes) results[static_cast<std::size_t>(r)].notes[k] = v;
      std::cout << "\n" << std::flush;
    }
  }
  ctx.load_after = loadavg();
  // A run of some scenarios keeps the other scenarios' figures from the last saved
  // measurements (named, with their commit and date, in the report's header).
  if (!only.empty() && only != std::set<std::string>{"fetch_once"} && !save.empty()) {
    const auto prev = read_saved(save);
    if (prev.is_object() && prev.contains("results")) {
      report_context prev_ctx;
      std::vector<run_result> prev_results;
      measured_from_json(prev, prev_ctx, prev_results);
      std::set<std::string> now;
      for (const auto& r : results) {
        for (const auto& [k, v] : r.values) now.insert(k);
      }
      bool any = false;
      for (std::size_t i = 0; i < prev_results.size(); ++i) {
        if (i >= results.size()) results.emplace_back();
        for (const auto& [k, v] : prev_results[i].values) {
          if (now.count(k) == 0) {
            results[i].values[k] = v;
            if (prev_results[i].notes.count(k)) results[i].notes[k] = prev_results[i].notes.at(k);
            any = true;
          }
        }
      }
      if (any) {
        ctx.carried = prev_ctx.carried.empty()
                          ? "carried over from the run at `" + prev_ctx.commit + "` (" +
                                prev_ctx.date + ", " + std::to_string(prev_ctx.runs) + " runs)"
                          : prev_ctx.carried;
        ctx.carried = "every scenario but " + [&] {
          std::string names;
          for (const auto& n : only) names += (names.empty() ? "" : ", ") + n;
          return names;
        }() + ": " + ctx.carried;
      }
    }
  }
  // fetch_once has a section of its own: measured now, or carried over from the last saved
  // measurements or the current document. A run of fetch_once alone replaces only that section
  // (and only its part of the saved measurements), keeping every other figure.
  const std::string old_doc = read_text(out_path);
  const auto old_saved = save.empty() ? nlohmann::json() : read_saved(save);
  std::string section = find_fetch_once(old_doc);
  nlohmann::json fo_saved;
  if (wanted("fetch_once")) {
    report_context fo_ctx = ctx;
    std::vector<run_result> fo_results = results;
    only_fetch_once(fo_ctx, fo_results);
    section = render_fetch_once(fo_ctx, fo_results);
    fo_saved = measured_json(fo_ctx, fo_results);
  } else if (old_saved.is_object() && old_saved.contains("fetch_once")) {
    fo_saved = old_saved["fetch_once"];
  }
  const bool section_only = only == std::set<std::string>{"fetch_once"};
  if (section_only && !old_doc.empty()) {
    if (!save.empty()) {
      auto j = old_saved.is_object() ? old_saved : nlohmann::json::object();
      j["fetch_once"] = fo_saved;
      write_text(save, j.dump(1));
    }
    write_text(out_path, splice_fetch_once(old_doc, section));
    std::cout << "wrote the fetch_once section of " << out_path << "\n";
  } else {
    if (!save.empty()) {
      auto j = measured_json(ctx, results);
      if (!fo_saved.is_null()) j["fetch_once"] = fo_saved;
      write_text(save, j.dump(1));
    }
    write_text(out_path, render_report(ctx, results, section));
    std::cout << "wrote " << out_path << "\n";
  }
  if (own_work && std::getenv("PDL_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
  }
  return ctx.failures.empty() ? 0 : 1;
}
