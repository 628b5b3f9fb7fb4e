#include "bench/driver/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

namespace pdl::bench {
namespace {

enum class goal { at_most, at_least, info };

struct figure {
  const char* id;
  const char* label;
  const char* unit;
  goal g;
  double target;
  const char* target_text;
};

// The issues' targets; "info" rows are the floors and absolute numbers the ratios are made of,
// and the parts a figure is made of. The agent's footprint targets are issue 10's (which replaced
// RSS <= 8 MB, peak <= idle + 32 MB and forwarding >= 0.5 of raw). MB here is MiB: /proc counts
// KiB, and a value is KiB / 1024.
const figure figures[] = {
    {"agent_idle_private_mb",
     "Agent private memory, idle, connected, empty store (RssAnon + private dirty file pages)",
     "MB", goal::at_most, 2, "≤ 2 MB"},
    {"agent_idle_anon_mb", "↳ RssAnon (heap, stacks, arenas, libraries' relocated pages)", "MB",
     goal::info, 0, ""},
    {"agent_idle_dirty_file_mb", "↳ private dirty file-backed pages", "MB", goal::info, 0, ""},
    {"agent_idle_pss_mb", "↳ PSS (shared pages divided among the processes mapping them)", "MB",
     goal::info, 0, ""},
    {"agent_idle_private_all_mb",
     "↳ Private_Clean + Private_Dirty (adds file pages no other process maps: the binary's text)",
     "MB", goal::info, 0, ""},
    {"agent_idle_curl_private_mb", "↳ libcurl.so: private (its relocated pages)", "MB", goal::info,
     0, ""},
    {"agent_idle_curl_deps_private_mb", "↳ libcurl's dependency libraries: private", "MB",
     goal::info, 0, ""},
    {"agent_idle_openssl_private_mb",
     "↳ OpenSSL (the agent's own TLS, and libcurl's): private", "MB", goal::info, 0, ""},
    {"agent_idle_rss_mb", "Agent VmRSS, idle, connected, empty store", "MB", goal::at_most, 16,
     "≤ 16 MB"},
    {"agent_idle_curl_rss_mb", "↳ libcurl.so: Rss", "MB", goal::info, 0, ""},
    {"agent_idle_curl_pss_mb", "↳ libcurl.so: PSS", "MB", goal::info, 0, ""},
    {"agent_idle_curl_deps_rss_mb", "↳ libcurl's dependency libraries: Rss", "MB", goal::info, 0,
     ""},
    {"agent_idle_curl_deps_pss_mb", "↳ libcurl's dependency libraries: PSS", "MB", goal::info, 0,
     ""},
    {"agent_idle_openssl_rss_mb", "↳ OpenSSL: Rss", "MB", goal::info, 0, ""},
    {"agent_idle_threads", "↳ threads", "", goal::info, 0, ""},
    {"agent_peak_growth_mb", "Agent peak private memory above idle, forwarding a 100 MB document",
     "MB", goal::at_most, 4, "≤ 4 MB"},
    {"agent_peak_private_mb", "↳ agent peak private memory (RssAnon + private dirty file pages)",
     "MB", goal::info, 0, ""},
    {"agent_hwm_growth_mb", "↳ VmHWM above idle VmRSS (also counts file pages first touched)",
     "MB", goal::info, 0, ""},
    {"agent_peak_rss_mb", "↳ agent peak RSS (VmHWM)", "MB", goal::info, 0, ""},
    {"forward_ratio_x", "Forwarding throughput, 100 MB, vs raw loopback copy", "×", goal::at_least,
     0.8, "≥ 0.8 of raw"},
    {"agent_forward_mbps", "↳ agent: publish accepted → last byte in the store", "MB/s", goal::info, 0, ""},
    {"raw_copy_mbps", "↳ floor: raw loopback copy, source → store", "MB/s", goal::info, 0, ""},
    {"visible_ratio_x", "100 MB source → visible in the store, vs direct PUT", "×", goal::at_most,
     1.2, "≤ 1.2×"},
    {"agent_visible_s", "↳ agent: publish accepted → applied by the store", "s", goal::info, 0, ""},
    {"direct_put_visible_s", "↳ floor: direct PUT of the file → applied", "s", goal::info, 0, ""},
    {"lat1_p50_ms", "Publish accepted → visible, 1 KB inline PUT, 1 agent, p50", "ms",
     goal::at_most, 1, "≤ 1 ms"},
    {"lat1_p99_ms", "Same, 1 agent, p99", "ms", goal::at_most, 5, "≤ 5 ms"},
    {"lat10_p50_ms", "↳ same, 10 agents, p50 of the last agent", "ms", goal::info, 0, ""},
    {"lat10_p99_ms", "Same, 10 real agents, p99 of the last agent", "ms", goal::at_most, 10,
     "≤ 10 ms"},
    {"fanout_server_rss_mb", "Server RSS, 10,000 WebSocket subscribers", "MB", goal::at_most, 300,
     "≤ 300 MB"},
    {"fanout_kb_per_subscriber", "↳ server memory per subscriber", "KB", goal::info, 0, ""},
    {"fanout_deliver_ms", "One update delivered to all 10,000 subscribers", "ms", goal::at_most,
     250, "≤ 250 ms"},
    {"fanout_first_ms", "↳ first subscriber notified", "ms", goal::info, 0, ""},
    {"start_empty_ms", "Agent start → /ready, empty base config", "ms", goal::at_most, 50,
     "≤ 50 ms"},
    {"start_17mb_ms", "Agent start → /ready, 17 MB base document", "ms", goal::at_most, 1000,
     "≤ 1 s"},
};

std::string fmt(double v) {
  char buf[64];
  double a = std::fabs(v);
  std::snprintf(buf, sizeof buf, a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", v);
  return buf;
}

/** A count (threads): no decimals unless it is a median between two. */
std::string fmt_count(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f" : "%.1f", v);
  return buf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::map<std::string, std::string> read_why(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return out;
}

const char* method_text =
    R"(## Method

Every figure is measured on loopback with the Release binaries (`-O2`), each scenario starting its
own fresh processes: `opal-server`, `opal-client`, `opa-standin` (answers like OPA 1.9; its
`--write-log` appends one line per write with the `CLOCK_REALTIME` at which the write had been
*applied*, i.e. is visible to the next read, and at which its body had been fully *received*) and
`fake-data-source` (serves the generated file from memory). "Median" and "min–max" are over the
runs; met / MISSED compares the median with the target. Nothing is polled with sleeps for a
timing: the driver only polls to find out *when to look*; the times come from the stand-in's log,
the swarm's own stamps, or the driver's clock around a request.

- **Agent idle memory**: 0.5 s after `/ready` answered 200 (ready implies connected to the
  server and the (empty) base config applied), from `/proc/<pid>/status` (`VmRSS`, `RssAnon`,
  threads) and `/proc/<pid>/smaps`, summed per mapping (`bench/driver/smaps.cpp`). *Private
  memory*, the issue's figure, is `RssAnon` plus the private dirty file-backed pages (per
  mapping `Private_Dirty` − `Anonymous`: a library's relocated pages are copy-on-write copies,
  hence anonymous, not dirty file pages). `Private_Clean + Private_Dirty` is shown too: it also
  counts file pages no other process happens to map (the agent's own text, or libcurl when
  nothing else on the machine runs it), which other agents of the same image on a node share.
  PSS depends on what else runs: on the bench machine other programs map libc, libstdc++,
  libcurl. *libcurl's share*: the mappings of `libcurl.so*`, and separately of the libraries in
  libcurl's `DT_NEEDED` closure that nothing else the executable needs pulls in (read from the
  ELF files that are mapped; listed under the memory table). The driver first writes back the
  binaries' page cache (`fsync`): a binary linked moments ago has dirty page-cache pages, which
  smaps would report as ~5 MB of the agent's private dirty memory. MB is MiB (KiB / 1024).
- **Agent peak memory**: while the agent forwards the 100 MB document (from before the publish
  to the store's applied stamp), `RssAnon` is sampled every 1 ms from `/proc/<pid>/status`, and
  the whole smaps profile is read again at each new high (at most every 25 ms). Peak growth =
  the highest private memory (highest `RssAnon` sample + private dirty file pages of the nearest
  profile) − idle private memory. `VmHWM` − idle `VmRSS` is shown as well: it also counts file
  pages (code, libraries) touched for the first time by the forwarding. The document is
  generated into the bench's temp dir (`users` objects with strings, numbers, lists, `null`s),
  never committed.
- **Forwarding throughput**: document bytes / (time from the server's 200 to the publish of a
  `DataUpdate` pointing at the source, to the time the store had received the agent's whole PUT
  body). The floor, measured in the same run against the same source and a fresh stand-in: one
  process (`bench/driver/bench_util.cpp` `raw_copy`) streams the source's GET into a PUT to the
  stand-in 256 KiB at a time, no parsing, timed from its first connect to the same "received"
  stamp.
- **Visible ratio**: publish accepted → the stand-in logged the 100 MB write as applied, divided
  by the floor: a PUT of the same file (streamed from disk over a fresh connection) into a fresh
  stand-in, timed from the connect to "applied". Both include the stand-in parsing 100 MB into its
  tree, which OPA would also do.
- **Inline latency**: a `DataUpdate` with ~1 KB of inline data (`dst_path` `/bench/lat/<i>`, so
  each write is identified), published with a datasource token over HTTP; the publish time is
  taken right after the server's 200 arrived; latency = "applied" stamp − that time. One update
  at a time (the next is published when every agent applied the previous); 20 warm-up updates are
  not counted. With 10 agents each has its own stand-in (one OPA per pod) and the figure per
  update is the *last* agent's. A write the store applied before the server's 200 reached the
  publisher counts with a negative latency (the note under a miss says how many there were).
- **Fan-out**: `bench_ws_swarm`, one process (Asio/Beast, one thread), opens the connections
  (128 handshakes in flight), sends OPAL's `subscribe` for topic `bench` on each and waits for
  every `true`, then stamps each `notify` as it is read (and answers it like OPAL's client).
  Delivery time = last stamp − the time just *before* the publish request was sent (the server
  may fan out before its 200 reaches us). Server RSS: `VmRSS` with all subscribed (or after the
  delivery, whichever is larger). `RLIMIT_NOFILE` is raised to the hard limit in the driver (the
  server inherits it) and in the swarm.
- **Agent start → /ready**: from just before `fork` to the first 200 of `/ready`, which is polled
  every 0.25 ms on a fresh connection once the agent wrote its port file. With the 17 MB base
  document the server's `OPAL_DATA_CONFIG_SOURCES` has one entry pointing at a fake data source,
  so the time includes fetching it and the stand-in parsing it.
)";

const char* opal_text =
    R"(## OPAL, for comparison (quoted from the issue, not measured by us)

These are the issue author's measurements of OPAL, on their machine; they are quoted as given and
were not reproduced here.

| OPAL figure (quoted from the issue) | value |
| --- | --- |
| OPAL client RSS, idle | 74 MB |
| OPAL client peak while forwarding a 100 MB document | 1.3 GB above idle |
| OPAL: 100 MB document source → landed in OPA | 43 s |
| OPAL server: one update delivered to 3,000 subscribers | 5.3 s |
| OPAL server memory per subscriber | ~150 KB |
| OPAL inline update → visible in OPA | 7 ms p50 / 11.5 ms p99 |
)";

/** The agent's memory by mapping, from the run whose idle private memory is the median. */
void render_memory(std::ostringstream& o, const std::vector<run_result>& runs) {
  std::vector<double> vals;
  std::vector<const run_result*> from;
  for (const auto& r : runs) {
    if (auto it = r.values.find("agent_idle_private_mb");
        it != r.values.end() && r.notes.count("agent_mem_idle_table") > 0) {
      vals.push_back(it->second);
      from.push_back(&r);
    }
  }
  if (vals.empty()) return;
  double med = median(vals);
  std::size_t best = 0;
  for (std::size_t i = 1; i < vals.size(); ++i) {
    if (std::fabs(vals[i] - med) < std::fabs(vals[best] - med)) best = i;
  }
  const auto& n = from[best]->notes;
  auto note = [&](const char* key) {
    auto it = n.find(key);
    return it == n.end() ? std::string() : it->second;
  };
  o << "### The agent's memory by mapping\n\n"
    << "KiB, from `/proc/<pid>/smaps`, in the run whose idle private memory is the median. "
    << "The private memory of the targets is the *Anonymous* column plus any private dirty "
    << "file pages (*Private_Dirty* − *Anonymous*).\n\n"
    << "Idle, connected, empty store:\n\n"
    << note("agent_mem_idle_table") << "\n";
  if (auto peak = note("agent_mem_peak_table"); !peak.empty()) {
    o << "At the highest private memory while forwarding the 100 MB document:\n\n" << peak << "\n";
  }
  if (auto deps = note("agent_curl_deps"); !deps.empty()) {
    o << "Libraries mapped only because libcurl needs them (its `DT_NEEDED` closure minus what "
      << "the executable's other libraries need): " << deps << ".\n\n";
  }
  if (auto top = note("agent_idle_private_mb"); !top.empty()) o << "Idle: " << top << ".\n\n";
}

}  // namespace

std::string render_report(const report_context& ctx, const std::vector<run_result>& runs) {
  std::ostringstream o;
  o << "# Benchmarks\n\n"
    << "Generated by `bench/run.sh` (do not edit by hand; rerun it; the hand-written sections "
    << "come from `bench/notes.md`). Figures are medians over " << ctx.runs << " runs.\n\n"
    << "| | |\n| --- | --- |\n"
    << "| date | " << ctx.date << " |\n"
    << "| commit | `" << ctx.commit << "` |\n"
    << "| cores (`nproc`) | " << ctx.cores << " |\n"
    << "| CPU | " << ctx.cpu_model << " |\n"
    << "| load average (1, 5, 15 min) | " << ctx.load_before << " before, " << ctx.load_after
    << " after |\n"
    << "| runs | " << ctx.runs << " (`PDL_BENCH_RUNS`) |\n"
    << "| WebSocket subscribers in the fan-out | " << ctx.subscribers << " |\n"
    << "| updates per latency run | " << ctx.latency_updates << " (+20 warm-up) |\n";
  if (!ctx.agent_env.empty()) {
    o << "| agents' extra environment (`PDL_BENCH_AGENT_ENV`) | `" << ctx.agent_env << "` |\n";
  }
  o << "\n";

  auto why_text = read_why(ctx.why_file);
  std::vector<std::string> misses;
  o << "| figure | median | min–max | target | result |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& f : figures) {
    std::vector<double> vals;
    std::vector<const run_result*> from;
    for (const auto& r : runs) {
      if (auto it = r.values.find(f.id); it != r.values.end()) {
        vals.push_back(it->second);
        from.push_back(&r);
      }
    }
    std::string unit = f.unit[0] ? std::string(" ") + f.unit : std::string();
    if (vals.empty()) {
      o << "| " << f.label << " | — | — | " << (f.target_text[0] ? f.target_text : "—") << " | "
        << (f.g == goal::info ? "" : "not measured") << " |\n";
      if (f.g != goal::info) {
        misses.push_back(std::string(f.id) + "\t" + f.label +
                         "\t\x01its scenario did not run or failed (see below)");
      }
      continue;
    }
    double med = median(vals);
    auto [lo, hi] = std::minmax_element(vals.begin(), vals.end());
    std::string result;
    if (f.g == goal::info) {
      result = "";
    } else {
      bool met = f.g == goal::at_most ? med <= f.target : med >= f.target;
      result = met ? "met" : "**MISSED**";
      if (!met) {
        // The observation of the run closest to the median.
        std::size_t best = 0;
        for (std::size_t i = 1; i < vals.size(); ++i) {
          if (std::fabs(vals[i] - med) < std::fabs(vals[best] - med)) best = i;
        }
        std::string note;
        if (auto n = from[best]->notes.find(f.id); n != from[best]->notes.end()) note = n->second;
        misses.push_back(std::string(f.id) + "\t" + f.label + "\t" + note);
      }
    }
    std::string count = vals.size() < runs.size()
                            ? " (" + std::to_string(vals.size()) + "/" + std::to_string(runs.size()) + " runs)"
                            : "";
    auto show = [&](double v) { return f.unit[0] ? fmt(v) : fmt_count(v); };
    o << "| " << f.label << " | " << show(med) << unit << count << " | " << show(*lo) << "–"
      << show(*hi) << unit << " | " << (f.target_text[0] ? f.target_text : "—") << " | " << result
      << " |\n";
  }
  o << "\n";
  if (!misses.empty()) {
    o << "### Why the misses\n\n";
    for (const auto& m : misses) {
      auto t1 = m.find('\t');
      auto t2 = m.find('\t', t1 + 1);
      std::string id = m.substr(0, t1);
      o << "- **Why** (" << m.substr(t1 + 1, t2 - t1 - 1) << "): ";
      if (auto w = why_text.find(id); w != why_text.end()) o << w->second << " ";
      std::string obs = m.substr(t2 + 1);
      if (!obs.empty() && obs[0] == '\x01') {
        o << "Not measured: " << obs.substr(1) << ".";
      } else if (!obs.empty()) {
        o << "Observed in the median run: " << obs << ".";
      }
      o << "\n";
    }
    o << "\n";
  }
  if (!ctx.failures.empty()) {
    o << "### Scenarios that failed\n\n";
    for (const auto& f : ctx.failures) o << "- " << f << "\n";
    o << "\n";
  }
  render_memory(o, runs);
  if (!ctx.notes_file.empty()) {
    std::ifstream in(ctx.notes_file);
    std::string notes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!notes.empty()) o << notes << (notes.back() == '\n' ? "\n" : "\n\n");
  }
  o << method_text << "\n" << opal_text;
  return o.str();
}

}  // namespace pdl::bench
