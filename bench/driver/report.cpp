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
    {"fanout_deliver_ms", "One 1 KB update delivered to all 10,000 subscribers", "ms",
     goal::at_most, 100, "≤ 100 ms"},
    {"fanout_first_ms", "↳ first subscriber notified", "ms", goal::info, 0, ""},
    {"fanout_cpu_us_per_sub", "Server CPU per subscriber, 1 KB update to 10,000", "µs",
     goal::at_most, 10, "≤ 10 µs"},
    {"fanout_swarm_cpu_us_per_sub", "↳ the swarm's CPU per subscriber (reading, answering)", "µs",
     goal::info, 0, ""},
    {"fanout_100kb_deliver_ms", "One 100 KB update delivered to all 10,000 subscribers", "ms",
     goal::at_most, 500, "≤ 500 ms"},
    {"fanout_100kb_cpu_us_per_sub", "↳ server CPU per subscriber, 100 KB update", "µs",
     goal::info, 0, ""},
    {"fanout50k_subscribers", "One server at 50,000 subscribers, or its descriptor limit: subscribers",
     "", goal::at_least, 50000, "50,000"},
    {"fanout50k_kb_per_subscriber", "↳ server memory per subscriber", "KB", goal::at_most, 8,
     "≤ 8 KB"},
    {"fanout50k_server_rss_mb", "↳ server RSS, all subscribed", "MB", goal::info, 0, ""},
    {"fanout50k_deliver_ms", "↳ one 1 KB update delivered to all of them", "ms", goal::at_most,
     500, "≤ 500 ms (50,000)"},
    {"fanout50k_cpu_us_per_sub", "↳ server CPU per subscriber", "µs", goal::info, 0, ""},
    {"fanout50k_100kb_deliver_ms", "↳ one 100 KB update to all of them", "ms", goal::info, 0, ""},
    {"replicas_subscribers", "4 replicas over one Redis, 25,000 each or their descriptor limit: subscribers",
     "", goal::at_least, 100000, "100,000"},
    {"replicas_deliver_ms", "↳ one 1 KB update delivered to all of them", "ms", goal::at_most,
     1000, "≤ 1 s"},
    {"replicas_first_ms", "↳ first subscriber notified", "ms", goal::info, 0, ""},
    {"replicas_redis_commands", "↳ Redis commands per update (INFO commandstats)", "", goal::info,
     0, ""},
    {"replicas_cpu_us_per_sub", "↳ the replicas' CPU per subscriber", "µs", goal::info, 0, ""},
    {"replicas_server_rss_mb", "↳ the 4 replicas' RSS, all subscribed", "MB", goal::info, 0, ""},
    {"replicas100k_deliver_ms", "One 1 KB update to 100,000 subscribers on as many replicas as the descriptor limit needs",
     "ms", goal::at_most, 1000, "≤ 1 s"},
    {"replicas100k_replicas", "↳ replicas", "", goal::info, 0, ""},
    {"replicas100k_redis_commands", "↳ Redis commands per update", "", goal::info, 0, ""},
    {"replicas100k_cpu_us_per_sub", "↳ the replicas' CPU per subscriber", "µs", goal::info, 0, ""},
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

std::string render_report(const report_context& ctx, const std::vector<run_result>& runs,
                          const std::string& fetch_once_section) {
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
  if (!ctx.carried.empty()) {
    o << "| figures not measured by this run | " << ctx.carried << " |\n";
  }
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
  std::vector<std::string> failures;
  for (const auto& f : ctx.failures) {
    if (f.find(", fetch_once: ") == std::string::npos) failures.push_back(f);
  }
  if (!failures.empty()) {
    o << "### Scenarios that failed\n\n";
    for (const auto& f : failures) o << "- " << f << "\n";
    o << "\n";
  }
  render_memory(o, runs);
  if (!ctx.notes_file.empty()) {
    std::ifstream in(ctx.notes_file);
    std::string notes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!notes.empty()) o << notes << (notes.back() == '\n' ? "\n" : "\n\n");
  }
  if (!fetch_once_section.empty()) o << fetch_once_section << "\n\n";
  o << method_text << "\n" << opal_text;
  return o.str();
}

}  // namespace pdl::bench

namespace pdl::bench {
namespace {

struct fo_row {
  const char* id;     // without the fo_a_ / fo_b_ prefix
  const char* label;
  const char* unit;
};

const fo_row fo_rows[] = {
    {"source_gets", "GETs at the source (authorized, from its `/_source/requests`)", ""},
    {"last_ms", "Publish request sent → the last agent's store had the document", "ms"},
    {"first_ms", "↳ the first agent's store", "ms"},
    {"p50_ms", "↳ the median agent's store", "ms"},
    {"publish_ms",
     "↳ the publish's own latency, request → 200 (in (a) it includes the server's fetch, "
     "validation, hash and fsync of the document)",
     "ms"},
    {"after_200_ms", "↳ the publish's 200 → the last agent's store had the document", "ms"},
    {"server_cpu_ms", "Server CPU time (user + system), publish → last agent done", "ms"},
    {"server_rss_before_mb", "Server VmRSS before the publish, every agent connected", "MB"},
    {"server_peak_rss_mb", "Server peak VmRSS, publish → last agent done (sampled every 2 ms)",
     "MB"},
    {"server_rss_growth_mb", "↳ above its VmRSS before the publish", "MB"},
    {"server_anon_before_mb", "Server RssAnon before the publish", "MB"},
    {"server_peak_anon_mb", "Server peak RssAnon, publish → last agent done", "MB"},
    {"server_hwm_mb", "Server VmHWM at the end (its peak since it started)", "MB"},
    {"agents_downloaded_mb",
     "Bytes the agents downloaded (their `pdl_agent_fetched_bytes_total`): from the server in "
     "(a), from the source in (b)",
     "MB"},
    {"source_served_mb", "Bytes the source sent (authorized GETs × document)", "MB"},
    {"agents_cpu_ms", "All agents' CPU time, publish → last agent done", "ms"},
    {"source_cpu_ms", "The source's CPU time, same window", "ms"},
    {"stores_cpu_ms", "All stand-ins' CPU time (receiving the PUTs), same window", "ms"},
    {"machine_cpu_ms",
     "The machine's CPU time, every process (ours and other work), same window (`/proc/stat`)",
     "ms"},
};

std::vector<double> values_of(const std::vector<run_result>& runs, const std::string& id) {
  std::vector<double> v;
  for (const auto& r : runs) {
    if (auto it = r.values.find(id); it != r.values.end()) v.push_back(it->second);
  }
  return v;
}

/** "median | min–max" cells, "— | —" when nothing was measured. */
std::string cells(const std::vector<double>& v, const char* unit, std::size_t runs) {
  if (v.empty()) return "— | —";
  std::string u = unit[0] ? std::string(" ") + unit : std::string();
  auto show = [&](double x) { return unit[0] ? fmt(x) : fmt_count(x); };
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  std::string count = v.size() < runs ? " (" + std::to_string(v.size()) + "/" +
                                            std::to_string(runs) + " runs)"
                                      : "";
  return show(median(v)) + u + count + " | " + show(*lo) + "–" + show(*hi) + u;
}

/** met when every run measured exactly @p want. */
std::string exactly(const std::vector<double>& v, double want) {
  if (v.empty()) return "not measured";
  for (double x : v) {
    if (x != want) return "**MISSED**";
  }
  return "met";
}

const char* fetch_once_method =
    R"(### How the fetch-once figures are measured

- Each variant of each run starts fresh processes (Release builds): one `opal-server` (memory
  update log, blob store in its own temp folder), one `fake-data-source` serving the generated
  document from memory behind a required `Authorization` header, and per agent one real
  `opal-client` with its own `opa-standin`. The stand-ins run with `--discard-data-under /bench`:
  they read the agent's whole PUT of the document and answer 204 without decoding or storing
  it (a hundred stores each holding 10 MB as a tree would not fit in this machine's memory, and
  what OPA does with the body is the same in both variants); the agents' own writes (their
  marker) are stored as usual. They also run with `--read-buffer-bytes 262144`, reading a body
  up to 64 KiB at a time: with their default (a few KiB per read) the hundred stand-ins used
  more CPU receiving the 1 GB than the agents and the server together, and the time to the last
  agent was mostly theirs. The agents do everything they do in production: receive the
  notify, download (from the server with their client JWT and check size and SHA-256 in (a);
  from the source with the entry's header in (b)), spool to a temp file while validating the
  JSON, and PUT it to their store.
- The variants alternate their order from run to run. (a) publishes the entry with
  `"fetched_by": "server"` and the source's header in `config.headers`; the driver checks that
  the publish answered the document's SHA-256 and size. (b) publishes the same entry without
  `fetched_by`.
- Times: *sent* is taken just before the publish request, *200* right after its answer; each
  agent's time is its stand-in's "applied" stamp (`--write-log`, `CLOCK_REALTIME`, written when
  the whole body had been received and answered). A run fails if any store answered other than
  204 or any agent counted a failed update.
- CPU time: `utime + stime` from `/proc/<pid>/stat` (10 ms ticks) just before the publish and
  once the last agent was done; for the agents and the stand-ins, the sum over all of them. The
  machine's, over the same window, from the first line of `/proc/stat` (all cores, every
  process, idle and iowait excluded): what it adds to the sum of ours is other work on the
  machine, and the kernel's work not charged to a process.
- Server memory: `VmRSS` and `RssAnon` from `/proc/<pid>/status` just before the publish, then
  sampled every 2 ms until the last agent was done; `VmHWM` read at the end. MB of memory are
  MiB (KiB / 1024), as in the table above; MB of bytes transferred are 10⁶ bytes.
- Bytes: the agents' `pdl_agent_fetched_bytes_total` (scraped from each agent's `/metrics`
  after the run, summed), and the source's authorized GETs of the document times its size.
- Every process shares the machine's cores: with a hundred agents validating and writing 10 MB
  each, the time to the last agent is mostly the agents' own CPU (its row), in both variants.)";

}  // namespace

std::string render_fetch_once(const report_context& ctx, const std::vector<run_result>& runs) {
  const int n = ctx.fetch_once_agents;
  std::ostringstream o;
  o << fetch_once_begin << "\n\n"
    << "## Fetch once: one 10 MB update to " << n << " agents (issue 12)\n\n"
    << "Generated by `bench/run.sh`, with the rest of this page or alone "
    << "(`PDL_BENCH_ONLY=fetch_once bash bench/run.sh` measures this scenario and replaces only "
    << "this section, so its date and commit may differ from the table at the top). (a): the "
    << "entry says `\"fetched_by\": \"server\"`, the server fetches the source once at publish "
    << "and every agent downloads the blob from the server. (b): the same entry without it, "
    << "every agent fetches the source itself. Figures are medians over " << ctx.runs
    << " runs.\n\n"
    << "| | |\n| --- | --- |\n"
    << "| date | " << ctx.date << " |\n"
    << "| commit | `" << ctx.commit << "` |\n"
    << "| cores (`nproc`), CPU | " << ctx.cores << ", " << ctx.cpu_model << " |\n"
    << "| load average (1, 5, 15 min) | " << ctx.load_before << " before, " << ctx.load_after
    << " after |\n"
    << "| runs | " << ctx.runs << " (`PDL_BENCH_RUNS`), each measuring both variants |\n"
    << "| agents | " << n << " real `opal-client`, each writing to its own `opa-standin` |\n"
    << "| document | " << ctx.fetch_once_doc_bytes
    << " bytes of JSON (generated), from `fake-data-source` requiring an `Authorization` "
       "header |\n";
  if (!ctx.agent_env.empty()) {
    o << "| agents' extra environment (`PDL_BENCH_AGENT_ENV`) | `" << ctx.agent_env << "` |\n";
  }
  o << "\n| figure | (a) fetched by the server: median | min–max | (b) fetched by every agent: "
       "median | min–max | target | result |\n"
    << "| --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& row : fo_rows) {
    auto a = values_of(runs, std::string("fo_a_") + row.id);
    auto b = values_of(runs, std::string("fo_b_") + row.id);
    std::string target = "—", result;
    if (std::string(row.id) == "source_gets") {
      target = "(a) = 1, (b) = " + std::to_string(n);
      result = "(a) " + exactly(a, 1) + ", (b) " + exactly(b, n);
    }
    o << "| " << row.label << " | " << cells(a, row.unit, runs.size()) << " | "
      << cells(b, row.unit, runs.size()) << " | " << target << " | " << result << " |\n";
  }
  o << "| Time to the last agent, (a) ÷ (b) in the same run | "
    << cells(values_of(runs, "fo_last_ratio_x"), "×", runs.size()) << " | — | — | — | |\n\n";

  // Observations of the run whose (a) time to the last agent is the median.
  std::vector<double> lasts;
  std::vector<const run_result*> from;
  for (const auto& r : runs) {
    if (auto it = r.values.find("fo_a_last_ms"); it != r.values.end()) {
      lasts.push_back(it->second);
      from.push_back(&r);
    }
  }
  if (!lasts.empty()) {
    double med = median(lasts);
    std::size_t best = 0;
    for (std::size_t i = 1; i < lasts.size(); ++i) {
      if (std::fabs(lasts[i] - med) < std::fabs(lasts[best] - med)) best = i;
    }
    o << "Observed in the run with the median (a) time:\n\n";
    for (const char* variant : {"a", "b"}) {
      for (const char* id : {"source_gets", "server_peak_rss_mb", "agents_downloaded_mb"}) {
        auto key = std::string("fo_") + variant + "_" + id;
        if (auto it = from[best]->notes.find(key); it != from[best]->notes.end()) {
          o << "- (" << variant << ") " << it->second << "\n";
        }
      }
    }
    o << "\n";
  }
  std::vector<std::string> failures;
  for (const auto& f : ctx.failures) {
    if (f.find(", fetch_once: ") != std::string::npos) failures.push_back(f);
  }
  if (!failures.empty()) {
    o << "Runs that failed:\n\n";
    for (const auto& f : failures) o << "- " << f << "\n";
    o << "\n";
  }
  o << fetch_once_method << "\n\n" << fetch_once_end;
  return o.str();
}

std::string find_fetch_once(const std::string& doc) {
  auto begin = doc.find(fetch_once_begin);
  if (begin == std::string::npos) return "";
  auto end = doc.find(fetch_once_end, begin);
  if (end == std::string::npos) return "";
  return doc.substr(begin, end + std::string(fetch_once_end).size() - begin);
}

std::string splice_fetch_once(const std::string& doc, const std::string& section) {
  auto begin = doc.find(fetch_once_begin);
  auto end = begin == std::string::npos ? std::string::npos : doc.find(fetch_once_end, begin);
  if (end != std::string::npos) {
    return doc.substr(0, begin) + section + doc.substr(end + std::string(fetch_once_end).size());
  }
  auto method = doc.find("\n## Method\n");
  if (method == std::string::npos) return doc + "\n" + section + "\n";
  return doc.substr(0, method + 1) + section + "\n\n" + doc.substr(method + 1);
}

}  // namespace pdl::bench
