// The fault suite (issue 3): five agents on loopback take a couple of thousand updates (PUT and
// PATCH, inline and fetched, overlapping paths and topics) while the test kills -9 and restarts
// agents, the server and the OPA stand-ins, makes the data source fail and hang, and cuts
// connections through proxies it controls. At the end each agent's store must equal the state
// computed from the acknowledged updates, and no sample may have shown a path going back.
// Replay a failure with PDL_FAULT_SEED=<seed printed first>; PDL_FAULT_UPDATES sets the size.
#include "tests/faults/cluster.hpp"

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/faults/expected_state.hpp"
#include "tests/faults/store_monitor.hpp"
#include "tests/faults/workload.hpp"
#include "tests/support/process.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define PDL_FAULTS_SLOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PDL_FAULTS_SLOW 1
#endif
#endif

namespace pdl::test::faults {
namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

#ifdef PDL_FAULTS_SLOW
constexpr std::uint64_t default_updates = 600;
constexpr auto converge_deadline = 120000ms;
constexpr std::uint64_t default_rate = 10;
constexpr std::uint64_t checkpoint_every = 200;
#else
constexpr std::uint64_t default_rate = 25;
constexpr std::uint64_t checkpoint_every = 400;
constexpr std::uint64_t default_updates = 2000;
constexpr auto converge_deadline = 60000ms;
#endif

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::stoull(v);
}

// The publisher's progress, so fault durations are counted in updates rather than wall time.
class progress {
 public:
  void advance(std::uint64_t n) {
    std::lock_guard lk(mu_);
    done_ = n;
    cv_.notify_all();
  }
  void wait_for(std::uint64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [&] { return done_ >= n || finished_ || checkpoint_ != 0; });
  }
  /** Publisher: asks the fault thread for a checkpoint at update @p at and waits until done. */
  void checkpoint(std::uint64_t at) {
    std::unique_lock lk(mu_);
    checkpoint_ = at;
    cv_.notify_all();
    cv_.wait(lk, [&] { return checkpoint_ == 0; });
  }
  /** Fault thread: the requested checkpoint (0: none). */
  std::uint64_t checkpoint_requested() {
    std::lock_guard lk(mu_);
    return checkpoint_;
  }
  void checkpoint_done() {
    std::lock_guard lk(mu_);
    checkpoint_ = 0;
    cv_.notify_all();
  }
  void finish() {
    std::lock_guard lk(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  std::uint64_t done() {
    std::lock_guard lk(mu_);
    return done_;
  }
  /** The publisher stops pacing until update @p n, so a kill can land in the middle of a POST. */
  void burst_until(std::uint64_t n) { burst_until_ = n; }
  bool bursting(std::uint64_t i) const { return i < burst_until_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t done_ = 0;
  bool finished_ = false;
  std::uint64_t checkpoint_ = 0;
  std::atomic<std::uint64_t> burst_until_{0};
};

struct outcome {
  std::map<std::uint64_t, json> acked;          // seq -> body
  std::map<std::uint64_t, std::uint64_t> seq_of;  // index -> seq
  std::set<std::uint64_t> refused;              // indexes the server refused (invalid) or lost
  std::size_t ambiguous = 0;
  std::size_t ambiguous_acked = 0;
  std::vector<std::string> errors;
};

// Publishes one update until its fate is known: acknowledged (200), refused (422, expected for
// invalid updates), or lost (a transport error after which the server does not know the id).
void publish(cluster& c, const planned_update& u, outcome& out) {
  const std::string body = u.body.dump();
  for (int attempt = 0; attempt < 2000; ++attempt) {
    auto r = http_do("POST", c.server_url() + "/data/config", c.datasource_token(), body);
    if (r.transport_error && r.connect_error) {
      // Never reached the server (it is restarting): the same update again is safe.
      std::this_thread::sleep_for(20ms);  // the server is restarting; nothing to poll
      continue;
    }
    if (!r.transport_error) {
      if (r.status == 200) {
        auto j = json::parse(r.body);
        std::uint64_t seq = j.at("seq").get<std::uint64_t>();
        if (!u.valid) out.errors.push_back("invalid update " + u.id + " was accepted");
        out.acked[seq] = u.body;
        out.seq_of[u.index] = seq;
        return;
      }
      if (r.status == 422 && !u.valid) {
        out.refused.insert(u.index);
        return;
      }
      if (r.status == 503) {  // the log refused it: not stored, not delivered
        out.refused.insert(u.index);
        return;
      }
      out.errors.push_back("update " + u.id + ": unexpected status " + std::to_string(r.status) +
                           ": " + r.body.substr(0, 300));
      out.refused.insert(u.index);
      return;
    }
    // Ambiguous: sent, no answer. Ask the server (once it is back) whether it stored it.
    ++out.ambiguous;
    const std::string status_url = "/data/updates/" + u.id;
    http_result st;
    poll_until(
        [&] {
          st = http_do("GET", c.server_url() + status_url, c.datasource_token());
          return !st.transport_error && (st.status == 200 || st.status == 404);
        },
        30000ms);
    if (st.status == 200) {
      std::uint64_t seq = json::parse(st.body).at("seq").get<std::uint64_t>();
      out.acked[seq] = u.body;
      out.seq_of[u.index] = seq;
      ++out.ambiguous_acked;
    } else if (st.status == 404) {
      out.refused.insert(u.index);
    } else {
      out.errors.push_back("update " + u.id + ": delivery status unavailable after a transport "
                           "error (status " + std::to_string(st.status) + ")");
      out.refused.insert(u.index);
    }
    return;
  }
  out.errors.push_back("update " + u.id + ": server unreachable");
}

struct fault_counts {
  std::map<std::string, int> n;
  std::string summary() const {
    std::string s;
    for (auto& [k, v] : n) s += k + "=" + std::to_string(v) + " ";
    return s;
  }
};

// One injected fault, chosen and parameterised by the seeded RNG; durations count updates.
void inject(cluster& c, store_monitor& mon, progress& prog, std::mt19937_64& rng,
            fault_counts& counts) {
  int agent = static_cast<int>(rng() % static_cast<std::uint64_t>(c.agents()));
  std::uint64_t hold = 1 + rng() % 25;  // updates published while the fault lasts
  auto wait_updates = [&](std::uint64_t n) { prog.wait_for(prog.done() + n, 20000ms); };
  std::string source = "http://127.0.0.1:" + std::to_string(c.source_port());
  switch (rng() % 9) {
    case 0:
    case 1:
      ++counts.n["agent_kill"];
      c.kill_agent(agent);
      wait_updates(hold);
      mon.agent_restarted(agent);
      c.start_agent(agent);
      break;
    case 2: {
      // Back-to-back POSTs (no pacing) around the kill: some are cut mid-request, and their
      // fate is then asked from the restarted server.
      ++counts.n["server_kill"];
      std::uint64_t from = prog.done();
      prog.burst_until(from + 60);
      prog.wait_for(from + 3 + rng() % 10, 20000ms);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));  // a random instant
      c.restart_server();
      break;
    }
    case 3:
      ++counts.n["standin_kill"];
      mon.sample(agent);
      c.kill_opa(agent);
      wait_updates(hold % 8);
      c.start_opa(agent);
      break;
    case 4:
      ++counts.n["source_fail"];
      http_do("POST", source + "/_source/fail?count=" + std::to_string(1 + rng() % 6) +
                          "&status=" + (rng() % 2 ? "500" : "503"));
      break;
    case 5:
      ++counts.n["source_hang"];
      http_do("POST", source + "/_source/hang?count=" + std::to_string(1 + rng() % 2));
      break;
    case 6:
      ++counts.n["cut_server_link"];
      c.cut_server_links(agent);
      break;
    case 7:
      ++counts.n["cut_opa_link"];
      c.cut_opa_links(agent);
      break;
    default:
      ++counts.n["cut_all_server_links"];
      for (int i = 0; i < c.agents(); ++i) c.cut_server_links(i);
      break;
  }
}

// Why an agent differs: every update a differing value names ("v" is its index), with its
// delivery status on the server, the agent's log lines naming it, and the engine events (stand-in
// restarts, rewrites) just before and after them. Enough to follow a lost or reordered write
// from the POST to the engine without rerunning.
std::string explain_diff(cluster& c, int agent, const std::string& diff, const std::string& tag) {
  static const std::regex v_re(R"re("v":(\d+)|(?:expected|got) (\d+))re");
  std::set<std::uint64_t> indexes;
  for (std::sregex_iterator it(diff.begin(), diff.end(), v_re), end;
       it != end && indexes.size() < 6; ++it) {
    indexes.insert(std::stoull((*it)[1].matched ? (*it)[1].str() : (*it)[2].str()));
  }
  std::vector<std::string> lines;
  {
    const std::string log = read_file(c.agent_log(agent));
    for (std::size_t begin = 0; begin < log.size();) {
      std::size_t end = log.find('\n', begin);
      if (end == std::string::npos) end = log.size();
      lines.push_back(log.substr(begin, std::min<std::size_t>(end - begin, 300)));
      begin = end + 1;
    }
  }
  auto is_event = [](const std::string& l) {
    for (const char* what : {"fault suite:", "lost our marker", "rewrote ", "gave up"}) {
      if (l.find(what) != std::string::npos) return true;
    }
    return false;
  };
  // "id=fs1-78" must not match "id=fs1-784".
  auto names = [](const std::string& l, const std::string& needle) {
    for (auto pos = l.find(needle); pos != std::string::npos; pos = l.find(needle, pos + 1)) {
      const auto after = pos + needle.size();
      if (after >= l.size() || !std::isdigit(static_cast<unsigned char>(l[after]))) return true;
    }
    return false;
  };
  std::string out;
  for (auto index : indexes) {
    const std::string id = tag + "-" + std::to_string(index);
    auto st = http_do("GET", c.server_url() + "/data/updates/" + id, c.datasource_token());
    out += "  update " + id + ": delivery status " + std::to_string(st.status) + " " +
           st.body.substr(0, 400) + "\n";
    std::vector<std::size_t> hits;
    for (std::size_t k = 0; k < lines.size(); ++k) {
      if (names(lines[k], "id=" + id)) hits.push_back(k);
    }
    if (hits.empty()) continue;
    std::set<std::size_t> shown;
    for (std::size_t k = hits.front(); k-- > 0;) {  // the engine event before its first line
      if (is_event(lines[k])) {
        shown.insert(k);
        break;
      }
    }
    for (std::size_t k = 0; k < hits.size() && k < 8; ++k) shown.insert(hits[k]);
    int after = 0;
    for (std::size_t k = hits.back() + 1; k < lines.size() && after < 2; ++k) {
      if (is_event(lines[k])) {
        shown.insert(k);
        ++after;
      }
    }
    for (auto k : shown) out += "    " + lines[k] + "\n";
  }
  return out;
}

// Waits until every agent's store equals the state its acknowledged updates make; on timeout
// returns a compact diff per differing agent, explained (explain_diff). Also used at
// checkpoints, with the publisher held.
std::string await_convergence(cluster& c, const std::map<std::uint64_t, json>& acked,
                              std::chrono::milliseconds deadline, const std::string& tag) {
  std::vector<json> expected;
  for (int i = 0; i < c.agents(); ++i) expected.push_back(expected_document(acked, c.topics(i)));
  std::vector<json> actual(static_cast<std::size_t>(c.agents()));
  auto matches = [&](int i) {
    auto [port, inc] = c.opa_endpoint(i);
    auto r = http_do("GET", "http://127.0.0.1:" + std::to_string(port) + "/v1/data");
    if (r.status != 200) return false;
    auto doc = json::parse(r.body, nullptr, false);
    if (!doc.is_object() || !doc.contains("result")) return false;
    actual[i] = doc["result"];
    actual[i].erase("system");
    return actual[i] == expected[i];
  };
  bool ok = poll_until(
      [&] {
        bool all = true;
        for (int i = 0; i < c.agents(); ++i) all = matches(i) && all;
        return all;
      },
      deadline);
  if (ok) return {};
  std::string diffs;
  for (int i = 0; i < c.agents(); ++i) {
    if (actual[i] != expected[i]) {
      const std::string d = json_diff(expected[i], actual[i]);
      diffs += "agent " + std::to_string(i) + ":\n" + d + explain_diff(c, i, d, tag);
    }
  }
  return diffs.empty() ? std::string("(no store answered)\n") : diffs;
}

TEST(fault_suite, acknowledged_updates_reach_every_agent_in_order) {
  std::uint64_t seed = env_number("PDL_FAULT_SEED", std::random_device{}());
  std::uint64_t updates = env_number("PDL_FAULT_UPDATES", default_updates);
  // Updates per second: the publisher is paced so faults (restarts take ~100 ms) land among
  // the updates instead of after them.
  std::uint64_t rate = std::max<std::uint64_t>(1, env_number("PDL_FAULT_RATE", default_rate));
  std::printf("fault suite seed: %llu; replay with PDL_FAULT_SEED=%llu (updates: %llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(updates));
  std::fflush(stdout);
  RecordProperty("seed", std::to_string(seed));
  const std::string replay = "replay with PDL_FAULT_SEED=" + std::to_string(seed);
  auto started = clock_type::now();

  temp_dir dir;
  cluster_options opts;
  // Overlapping subscriptions: every topic is shared by at least two agents.
  opts.topics = {{"t0", "t1", "t2"}, {"t1", "t3"}, {"t2", "t3", "t4", "t5"}, {"t0", "t5"},
                 {"t0", "t1", "t2", "t3", "t4", "t5"}};
  opts.agents = static_cast<int>(opts.topics.size());
  cluster c(dir.path(), opts);
  store_monitor mon(c);
  const std::string tag = "fs" + std::to_string(seed % 1000000);  // update ids: <tag>-<index>
  workload work(seed, tag,
                "http://127.0.0.1:" + std::to_string(c.source_port()) + "/echo");

  // Faults run on their own thread (a kill can then land in the middle of a POST), in an order
  // and with parameters drawn from their own seeded RNG.
  progress prog;
  fault_counts counts;
  std::mutex crash_mu;
  std::vector<std::string> crashes;
  auto reap = [&] {
    auto found = c.reap_crashes();
    std::lock_guard lk(crash_mu);
    crashes.insert(crashes.end(), found.begin(), found.end());
  };
  std::mt19937_64 fault_rng(seed * 31 + 7);
  outcome out;
  std::vector<std::string> checkpoint_failures;
  // A checkpoint (publisher held, on the fault thread): everything back up, the stores must
  // converge; then every stand-in is restarted empty and the agents must rebuild the same state
  // from their backups. Mid-run, so a wrong rebuild is seen before later updates paper over it.
  auto checkpoint = [&](std::uint64_t at) {
    reap();
    for (int i = 0; i < c.agents(); ++i) {
      c.start_opa(i);
      c.start_agent(i);
    }
    std::string diff = await_convergence(c, out.acked, converge_deadline, tag);
    if (!diff.empty()) {
      checkpoint_failures.push_back("checkpoint at update " + std::to_string(at) +
                                    ", before restarting the stand-ins:\n" + diff);
      return;
    }
    for (int i = 0; i < c.agents(); ++i) {
      mon.sample(i);
      c.kill_opa(i);
      c.start_opa(i);
    }
    diff = await_convergence(c, out.acked, converge_deadline, tag);
    if (!diff.empty()) {
      checkpoint_failures.push_back("checkpoint at update " + std::to_string(at) +
                                    ", after restarting every stand-in (rebuild from backups):\n" +
                                    diff);
    }
    ++counts.n["checkpoint"];
  };
  std::thread chaos([&] {
    std::uint64_t next = 20 + fault_rng() % 30;
    while (next < updates) {
      prog.wait_for(next, 120000ms);
      if (auto at = prog.checkpoint_requested(); at != 0) {
        checkpoint(at);
        prog.checkpoint_done();
        continue;
      }
      if (prog.done() < next) break;  // publisher finished or stuck
      reap();
      inject(c, mon, prog, fault_rng, counts);
      next = prog.done() + 10 + fault_rng() % 40;
    }
    // The publisher may still ask for a checkpoint after the last fault.
    while (true) {
      prog.wait_for(updates + 1, 120000ms);
      auto at = prog.checkpoint_requested();
      if (at == 0) break;
      checkpoint(at);
      prog.checkpoint_done();
    }
  });

  auto slot = clock_type::now();
  for (std::uint64_t i = 1; i <= updates; ++i) {
    publish(c, work.next(), out);
    prog.advance(i);
    if (i % checkpoint_every == 0 && i < updates) {
      prog.checkpoint(i);
      slot = clock_type::now();
    }
    slot += std::chrono::microseconds(1000000 / rate);
    if (prog.bursting(i)) {
      slot = clock_type::now();
    } else {
      std::this_thread::sleep_until(slot);  // pacing, not waiting for anything
    }
  }
  prog.finish();
  chaos.join();
  auto published_at = clock_type::now();

  // Every process back up (a fault may have left one down), then convergence.
  reap();
  for (int i = 0; i < c.agents(); ++i) {
    c.start_opa(i);
    c.start_agent(i);
  }
  std::string failed_round;
  std::string diffs = await_convergence(c, out.acked, converge_deadline, tag);
  if (!diffs.empty()) failed_round = "after the faults";
  // Two more rounds, each of which must rebuild exactly the same state: every engine restarted
  // empty (each agent replays its backup), then every agent restarted on its data dir (resume).
  if (diffs.empty()) {
    for (int i = 0; i < c.agents(); ++i) {
      mon.sample(i);
      c.kill_opa(i);
      c.start_opa(i);
    }
    diffs = await_convergence(c, out.acked, converge_deadline, tag);
    if (!diffs.empty()) failed_round = "after restarting every stand-in (rebuild from backups)";
  }
  if (diffs.empty()) {
    for (int i = 0; i < c.agents(); ++i) {
      c.kill_agent(i);
      mon.agent_restarted(i);
      c.start_agent(i);
    }
    diffs = await_convergence(c, out.acked, converge_deadline, tag);
    if (!diffs.empty()) failed_round = "after restarting every agent (resume from data dirs)";
  }
  for (int i = 0; i < c.agents(); ++i) mon.sample(i);
  reap();
  auto done_at = clock_type::now();

  auto secs = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 1000.0;
  };
  std::printf("fault suite: %llu updates (%zu acked, %zu refused or lost, %zu ambiguous of which "
              "%zu acked), faults: %s\n  publish %.1f s, final checks %.1f s, %zu samples\n",
              static_cast<unsigned long long>(updates), out.acked.size(), out.refused.size(),
              out.ambiguous, out.ambiguous_acked, counts.summary().c_str(),
              secs(published_at - started), secs(done_at - published_at), mon.samples());
  auto regressions = mon.restart_regressions();
  if (!regressions.empty()) {
    std::printf("  %zu re-applications seen across agent restarts (first: %s)\n",
                regressions.size(), regressions.front().c_str());
  }

  for (auto& e : out.errors) ADD_FAILURE() << e << "; " << replay;
  for (auto& e : crashes) ADD_FAILURE() << "crash: " << e << "\n" << replay;
  for (auto& f : checkpoint_failures) {
    ADD_FAILURE() << "stores differ from the acknowledged updates at a " << f << replay;
  }
  // Seq order follows publish order (one publisher), so index order is the per-path order.
  std::uint64_t last_seq = 0;
  for (auto& [index, seq] : out.seq_of) {
    EXPECT_GT(seq, last_seq) << "update " << index << "; " << replay;
    last_seq = seq;
  }
  EXPECT_TRUE(diffs.empty()) << "stores differ from the acknowledged updates " << failed_round
                             << "; " << replay << "\n"
                             << diffs;
  auto violations = mon.violations();
  std::string vtext;
  for (std::size_t k = 0; k < violations.size() && k < 10; ++k) vtext += "  " + violations[k] + "\n";
  EXPECT_TRUE(violations.empty()) << violations.size() << " order violations; " << replay << "\n"
                                  << vtext;
  std::string unacked;
  for (auto v : mon.seen()) {
    if (out.seq_of.count(v) == 0) unacked += " " + std::to_string(v);
  }
  EXPECT_TRUE(unacked.empty()) << "applied but never acknowledged:" << unacked << "; " << replay;
  if (HasFailure()) {
    std::printf("%s", c.log_tails().c_str());
    const std::string kept = "/tmp/pdl-faults-" + std::to_string(seed);
    c.keep_logs(kept);
    std::printf("fault suite: every process log kept in %s; %s\n", kept.c_str(), replay.c_str());
  }
}

}  // namespace
}  // namespace pdl::test::faults
