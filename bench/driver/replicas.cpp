// Replicas over one real Redis: R opal-server processes sharing the update log, N/R WebSocket
// subscribers on each (one bench_ws_swarm), one update published to the first replica: the
// time until the last of the N subscribers got it, and the Redis commands one update costs
// (INFO commandstats before and after a batch of updates, divided by the batch).
#include <sys/resource.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/driver/bench_util.hpp"
#include "bench/driver/fleet.hpp"
#include "bench/driver/scenarios.hpp"
#include "shared/http/client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace pdl::bench {

using namespace std::chrono_literals;

namespace {

/** Sum of `calls=` over INFO commandstats, and the per-command counts. */
std::map<std::string, long long> command_calls(const test::redis_server& r) {
  std::map<std::string, long long> out;
  std::istringstream in(r.cli({"INFO", "commandstats"}));
  for (std::string line; std::getline(in, line);) {
    // cmdstat_xadd:calls=3,usec=...
    auto colon = line.find(':');
    auto calls = line.find("calls=");
    if (line.rfind("cmdstat_", 0) != 0 || colon == std::string::npos || calls == std::string::npos) {
      continue;
    }
    out[line.substr(8, colon - 8)] = std::atoll(line.c_str() + calls + 6);
  }
  return out;
}

std::string post(const std::string& url, const std::string& bearer, const std::string& body) {
  http_client::request req;
  req.method = "POST";
  req.url = url;
  req.headers.push_back({"Authorization", secret("Bearer " + bearer)});
  req.headers.push_back({"Content-Type", secret("application/json")});
  req.body = body;
  auto r = http_client::perform(req);
  auto* ok = std::get_if<http_client::response>(&r);
  if (ok == nullptr || ok->status != 200) {
    throw std::runtime_error(
        "POST " + url + " failed: " +
        (ok ? std::to_string(ok->status) + " " + ok->body
            : std::get<http_client::transport_error>(r).message));
  }
  return ok->body;
}

}  // namespace

void run_replicas(const bench_setup& s, int run, int replicas, int subscribers,
                  const std::string& name, run_result& out) {
  std::string dir = s.work_dir + "/" + name + "-" + std::to_string(run);
  std::filesystem::create_directories(dir);
  fleet f(dir);
  test::redis_server redis(dir + "/redis");
  std::string key = f.file("signing.pem");
  auto k = test::run_command("/usr/bin/openssl", {"genrsa", "-out", key, "2048"});
  if (k.exit_code != 0) throw std::runtime_error("openssl genrsa: " + k.output);
  auto secret_cmd = test::run_command(test::binary_path("opal-server"), {"generate-secret"});
  std::string master = secret_cmd.output;
  while (!master.empty() && (master.back() == '\n' || master.back() == ' ')) master.pop_back();
  master = master.substr(master.find_last_of('\n') + 1);
  std::vector<std::string> urls;
  std::vector<int> pids;
  for (int i = 0; i < replicas; ++i) {
    std::string pf = f.file("server" + std::to_string(i) + ".port");
    auto& p = f.start("server" + std::to_string(i), "opal-server", {"run", "--port-file", pf},
                      {{"OPAL_AUTH_MASTER_TOKEN", master},
                       {"OPAL_AUTH_PRIVATE_KEY", key},
                       {"OPAL_AUTH_PRIVATE_KEY_FORMAT", "pem"},
                       {"OPAL_BROADCAST_URI", redis.uri()},
                       {"OPAL_SERVER_HOST", "127.0.0.1"},
                       {"OPAL_SERVER_BIND_PORT", "0"},
                       {"OPAL_BROADCAST_CHANNEL_NAME", "bench"}});
    int port = test::wait_for_port_file(pf, 20000ms, &p);
    urls.push_back("http://127.0.0.1:" + std::to_string(port));
    pids.push_back(p.pid());
  }
  auto token = [&](const std::string& type) {
    return nlohmann::json::parse(post(urls[0] + "/token", master,
                                      nlohmann::json{{"type", type}}.dump()))
        .at("token")
        .get<std::string>();
  };
  write_text(f.file("client.token"), token("client") + "\n");
  std::string ds = token("datasource");
  std::vector<std::string> ws_urls;
  for (const auto& u : urls) ws_urls.push_back("ws" + u.substr(4) + "/ws");
  auto swarms = f.start_swarms(ws_urls, f.file("client.token"), subscribers, 2);
  if (!test::poll_until([&] { return swarms.all_ready(); }, 900s)) {
    throw std::runtime_error("subscribers did not all subscribe");
  }
  std::int64_t rss_kb = 0;
  for (int pid : pids) rss_kb += read_mem(pid).rss_kb;

  // Round 1: the timed update, published to the first replica.
  double cpu0 = 0;
  for (int pid : pids) cpu0 += cpu_ms_precise(pid);
  auto calls0 = command_calls(redis);
  std::int64_t sent = now_ns();
  post(urls[0] + "/data/config", ds, padded_update("/bench/" + name + "/1", 900));
  std::int64_t first = 0, last = 0;
  if (!test::poll_until([&] { return swarms.round_done(1, first, last); }, 300s)) {
    throw std::runtime_error("not every subscriber got the update");
  }
  out.values[name + "_deliver_ms"] = static_cast<double>(last - sent) / 1e6;
  out.values[name + "_first_ms"] = static_cast<double>(first - sent) / 1e6;
  double cpu = -cpu0;
  for (int pid : pids) cpu += cpu_ms_precise(pid);
  // Round 2: the Redis commands of one more update (the swarm's second notify), counted once
  // every subscriber has it, so the replicas' tails have read it.
  auto calls1 = command_calls(redis);
  post(urls[replicas - 1] + "/data/config", ds, padded_update("/bench/" + name + "/2", 900));
  if (!test::poll_until([&] { return swarms.round_done(2, first, last); }, 300s)) {
    throw std::runtime_error("not every subscriber got the second update");
  }
  auto calls2 = command_calls(redis);
  long long per_update = 0;
  std::string detail;
  for (const auto& [cmd, n] : calls2) {
    long long before = calls1.count(cmd) ? calls1.at(cmd) : 0;
    if (n - before > 0 && cmd != "info") {
      per_update += n - before;
      detail += (detail.empty() ? "" : ", ") + cmd + " " + std::to_string(n - before);
    }
  }
  (void)calls0;
  out.values[name + "_redis_commands"] = static_cast<double>(per_update);
  out.values[name + "_subscribers"] = subscribers;
  out.values[name + "_replicas"] = replicas;
  out.values[name + "_server_rss_mb"] = static_cast<double>(rss_kb) / 1024.0;
  out.values[name + "_cpu_us_per_sub"] = cpu * 1000.0 / subscribers;
  out.notes[name + "_deliver_ms"] =
      std::to_string(replicas) + " replicas x " + std::to_string(subscribers / replicas) +
      " subscribers; first notify " + num(out.values[name + "_first_ms"]) + " ms, last " +
      num(out.values[name + "_deliver_ms"]) + " ms after the publish request; servers' CPU " +
      num(cpu) + " ms in all; Redis commands for one update: " + detail;
  out.notes[name + "_redis_commands"] = out.notes[name + "_deliver_ms"];
  swarms.stop();
}

void run_replicas_4x25k(const bench_setup& s, int run, run_result& out) {
  // 4 x 25,000 wanted; a replica holds at most its descriptor limit (see run_fanout_50k).
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const int most = rl.rlim_max > 2000 ? static_cast<int>(rl.rlim_max) - 1000 : 1000;
  run_replicas(s, run, 4, 4 * std::min(25000, most), "replicas", out);
}

void run_replicas_100k(const bench_setup& s, int run, run_result& out) {
  // 100,000 subscribers on as few replicas as the descriptor limit allows.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  const int most = rl.rlim_max > 2000 ? static_cast<int>(rl.rlim_max) - 1000 : 1000;
  const int replicas = std::max(4, (100000 + most - 1) / most);
  run_replicas(s, run, replicas, 100000, "replicas100k", out);
}

}  // namespace pdl::bench
