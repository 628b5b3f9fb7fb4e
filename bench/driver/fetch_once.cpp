// Fetch once (issue 12 point 7, docs/fetch-once.md): one update of a ~10 MB document to
// s.fetch_once_agents real agents, (a) with "fetched_by": "server" (the server GETs the source
// once at publish, every agent downloads the blob from the server) and (b) without (every agent
// GETs the source with the entry's headers). Each variant runs on fresh processes: one server,
// one fake-data-source requiring a header, and per agent an opal-client with its own
// opa-standin that answers the document's PUT without storing it (--discard-data-under /bench:
// a hundred stores each holding 10 MB as a tree would not fit; what OPA does with the body is
// the same in both variants and none of the server's business) and reads it in 64 KiB pieces
// (--read-buffer-bytes: with the default few-KiB reads the hundred stand-ins used more CPU than
// the agents and the server together, and the time measured was mostly theirs). The times come
// from the stand-ins' write logs; the server's CPU from /proc/<pid>/stat, its memory sampled
// from /proc/<pid>/status.
#include <algorithm>
#include <exception>
#include <stdexcept>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"
#include "bench/driver/smaps.hpp"
#include "tests/support/http_call.hpp"
#include "tests/support/prometheus_text.hpp"

namespace pdl::bench {

using namespace std::chrono_literals;

namespace {

// What the source requires; with (a) it never leaves the server, with (b) every agent sends it.
constexpr const char* source_credential = "Bearer bench-fetch-once-source-credential";
constexpr const char* write_target = "/v1/data/bench/fetch_once";

std::string url_of(int port) { return "http://127.0.0.1:" + std::to_string(port); }

double mib(std::int64_t kb) { return static_cast<double>(kb) / 1024.0; }

struct agent_counts {
  double fetched_bytes = 0;
  double failed = 0;
};

/** pdl_agent_fetched_bytes_total and the failed updates (all reasons) of one agent. */
agent_counts scrape_agent(int api_port) {
  auto r = test::http_call("GET", url_of(api_port) + "/metrics");
  if (r.status != 200) {
    throw std::runtime_error("agent /metrics answered " + std::to_string(r.status));
  }
  auto scrape = test::parse_prometheus_text(r.body);
  agent_counts c;
  for (const auto& sample : scrape.samples) {
    if (sample.name == "pdl_agent_fetched_bytes_total") c.fetched_bytes += sample.value;
    if (sample.name == "pdl_agent_updates_failed_total") c.failed += sample.value;
  }
  return c;
}

void run_variant(const bench_setup& s, int run, bool by_server, run_result& out) {
  const std::string key = by_server ? "fo_a_" : "fo_b_";
  const int n = s.fetch_once_agents;
  fleet f(s.work_dir + "/fetch_once-" + (by_server ? "server-" : "agents-") +
          std::to_string(run));
  auto source = f.start_source({{"/doc", s.doc_10mb}},
                               {"--require-header", std::string("Authorization: ") +
                                                        source_credential});
  f.start_server();
  std::vector<standin> stores;
  std::vector<agent*> agents;
  std::vector<std::unique_ptr<write_log_reader>> logs;
  for (int i = 0; i < n; ++i) {
    stores.push_back(f.start_standin({"--discard-data-under", "/bench", "--read-buffer-bytes",
                                      "262144", "--log-level", "warn"}));
    logs.push_back(std::make_unique<write_log_reader>(stores.back().write_log));
    agents.push_back(&f.start_agent(stores.back(), "bench", s.agent_env));
  }
  for (auto* a : agents) f.wait_ready(*a, 120s);
  // Ready means connected; let the start-up work of a hundred agents (first probes, marker
  // writes) finish before anything is measured.
  std::this_thread::sleep_for(1500ms);
  std::string ds = f.token("datasource");

  nlohmann::json entry = {{"url", url_of(source.port) + "/doc"},
                          {"topics", {"bench"}},
                          {"dst_path", "/bench/fetch_once"},
                          {"save_method", "PUT"},
                          {"config", {{"headers", {{"Authorization", source_credential}}}}}};
  if (by_server) entry["fetched_by"] = "server";
  nlohmann::json update = {{"entries", {entry}}, {"reason", "bench: fetch once"}};

  const int server = f.server_pid();
  const auto before = read_mem(server);
  std::vector<double> agent_cpu0, store_cpu0;
  for (auto* a : agents) agent_cpu0.push_back(cpu_ms(a->proc->pid()));
  for (const auto& st : stores) store_cpu0.push_back(cpu_ms(st.proc->pid()));
  const double machine_cpu0 = machine_busy_ms();
  const double server_cpu0 = cpu_ms(server);
  const double source_cpu0 = cpu_ms(source.proc->pid());
  mem_sampler sampler(server, 2ms, /*profiles=*/false);
  auto pub = f.publish(ds, update.dump());

  // Polling only decides when we look; the times are the stand-ins' own stamps.
  std::vector<std::int64_t> applied(static_cast<std::size_t>(n), 0);
  int done = 0;
  const auto deadline = std::chrono::steady_clock::now() + 300s;
  while (done < n) {
    for (int i = 0; i < n; ++i) {
      auto& at = applied[static_cast<std::size_t>(i)];
      if (at != 0) continue;
      for (const auto& e : logs[static_cast<std::size_t>(i)]->read_new()) {
        if (e.path != write_target) continue;
        if (e.status != 204) {
          throw std::runtime_error("agent " + std::to_string(i) + "'s PUT answered " +
                                   std::to_string(e.status));
        }
        at = e.applied_ns;
        ++done;
        break;
      }
    }
    if (done == n) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::string tail;
      for (int i = 0; i < n && tail.empty(); ++i) {
        if (applied[static_cast<std::size_t>(i)] == 0) {
          tail = agents[static_cast<std::size_t>(i)]->proc->log();
          if (tail.size() > 1500) tail = tail.substr(tail.size() - 1500);
        }
      }
      throw std::runtime_error(std::to_string(n - done) + " of " + std::to_string(n) +
                               " agents did not apply the update within 300 s; one's log: " +
                               tail);
    }
    std::this_thread::sleep_for(5ms);
  }
  sampler.stop();
  const double server_cpu = cpu_ms(server) - server_cpu0;
  const double source_cpu = cpu_ms(source.proc->pid()) - source_cpu0;
  const double machine_cpu = machine_busy_ms() - machine_cpu0;
  double agents_cpu = 0, stores_cpu = 0;
  for (std::size_t i = 0; i < agents.size(); ++i) {
    agents_cpu += cpu_ms(agents[i]->proc->pid()) - agent_cpu0[i];
    stores_cpu += cpu_ms(stores[i].proc->pid()) - store_cpu0[i];
  }
  const auto after = read_mem(server);

  auto counts = nlohmann::json::parse(
      test::http_call("GET", url_of(source.port) + "/_source/requests").body);
  const auto& doc_counts = counts["paths"]["/doc"];
  const double gets = doc_counts.value("authorized", 0.0);
  const double requests = doc_counts.value("requests", 0.0);
  agent_counts sum;
  double least_fetched = std::numeric_limits<double>::max();
  for (auto* a : agents) {
    auto c = scrape_agent(a->api_port);
    sum.fetched_bytes += c.fetched_bytes;
    sum.failed += c.failed;
    least_fetched = std::min(least_fetched, c.fetched_bytes);
  }
  if (sum.failed > 0) {
    throw std::runtime_error(std::to_string(static_cast<int>(sum.failed)) +
                             " updates failed at the agents (pdl_agent_updates_failed_total)");
  }

  std::string blob_note;
  if (by_server) {
    // The publish answers the blob's hash and size: they must be the document's.
    auto answer = nlohmann::json::parse(pub.body);
    const auto& blob = answer.at("blobs").at(0);
    if (blob.at("size").get<std::uint64_t>() != s.doc_10mb_bytes ||
        blob.at("sha256").get<std::string>() != s.doc_10mb_sha256) {
      throw std::runtime_error("the publish answered another blob than the document: " +
                               pub.body);
    }
    blob_note = "; the publish answered blob " + s.doc_10mb_sha256.substr(0, 12) + ", " +
                std::to_string(s.doc_10mb_bytes) + " bytes";
  }

  const auto [first_it, last_it] = std::minmax_element(applied.begin(), applied.end());
  const double doc_mb = static_cast<double>(s.doc_10mb_bytes) / 1e6;
  out.values[key + "source_gets"] = gets;
  out.values[key + "last_ms"] = static_cast<double>(*last_it - pub.sent_ns) / 1e6;
  out.values[key + "first_ms"] = static_cast<double>(*first_it - pub.sent_ns) / 1e6;
  std::vector<double> each_ms;
  for (auto at : applied) each_ms.push_back(static_cast<double>(at - pub.sent_ns) / 1e6);
  out.values[key + "p50_ms"] = percentile(each_ms, 50);
  out.values[key + "publish_ms"] = static_cast<double>(pub.ok_ns - pub.sent_ns) / 1e6;
  out.values[key + "after_200_ms"] = static_cast<double>(*last_it - pub.ok_ns) / 1e6;
  out.values[key + "server_cpu_ms"] = server_cpu;
  out.values[key + "agents_cpu_ms"] = agents_cpu;
  out.values[key + "source_cpu_ms"] = source_cpu;
  out.values[key + "stores_cpu_ms"] = stores_cpu;
  out.values[key + "machine_cpu_ms"] = machine_cpu;
  const std::int64_t peak_rss = std::max(sampler.peak_rss_kb(), after.rss_kb);
  out.values[key + "server_rss_before_mb"] = mib(before.rss_kb);
  out.values[key + "server_peak_rss_mb"] = mib(peak_rss);
  out.values[key + "server_rss_growth_mb"] = mib(peak_rss - before.rss_kb);
  out.values[key + "server_anon_before_mb"] = mib(before.anon_kb);
  out.values[key + "server_peak_anon_mb"] = mib(std::max(sampler.peak_anon_kb(), after.anon_kb));
  out.values[key + "server_hwm_mb"] = mib(after.hwm_kb);
  out.values[key + "agents_downloaded_mb"] = sum.fetched_bytes / 1e6;
  out.values[key + "source_served_mb"] = gets * doc_mb;
  out.notes[key + "source_gets"] =
      std::to_string(static_cast<int>(requests)) + " requests at the source, " +
      std::to_string(static_cast<int>(gets)) + " with the required header" + blob_note;
  out.notes[key + "server_peak_rss_mb"] =
      "server VmRSS " + std::to_string(before.rss_kb) + " KiB before the publish (RssAnon " +
      std::to_string(before.anon_kb) + "), highest sample " +
      std::to_string(sampler.peak_rss_kb()) + " KiB (RssAnon " +
      std::to_string(sampler.peak_anon_kb()) + ", " + std::to_string(sampler.samples()) +
      " samples), " + std::to_string(after.rss_kb) + " KiB after, VmHWM " +
      std::to_string(after.hwm_kb) + " KiB, " + std::to_string(after.threads) + " threads";
  out.notes[key + "agents_downloaded_mb"] =
      "every agent fetched at least " + std::to_string(static_cast<std::uint64_t>(least_fetched)) +
      " bytes (the document is " + std::to_string(s.doc_10mb_bytes) + ")";
}

}  // namespace

void run_fetch_once(const bench_setup& s, int run, run_result& out) {
  // Alternate the order, so neither variant always runs on the warmer page cache.
  // A variant that fails does not keep the other from being measured.
  const bool server_first = run % 2 == 0;
  std::exception_ptr failed;
  for (bool by_server : {server_first, !server_first}) {
    try {
      run_variant(s, run, by_server, out);
    } catch (const std::exception& e) {
      if (!failed) {
        failed = std::make_exception_ptr(std::runtime_error(
            std::string(by_server ? "(a) fetched by the server: " : "(b) fetched by the agents: ") +
            e.what()));
      }
    }
  }
  if (out.values.count("fo_a_last_ms") > 0 && out.values.count("fo_b_last_ms") > 0) {
    out.values["fo_last_ratio_x"] = out.values["fo_a_last_ms"] / out.values["fo_b_last_ms"];
  }
  if (failed) std::rethrow_exception(failed);
}

}  // namespace pdl::bench
