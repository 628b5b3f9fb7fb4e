// Redis high availability, end to end with real processes: a Redis primary and replica watched by
// three Debian redis-sentinel processes, two opal-server replicas pointed at the sentinels
// (redis-sentinel://...#pdl-primary) with broadcast.min_replicas 1, and four agents. A thread
// publishes a stream of updates; the primary is killed -9 in the middle of it. Every publish
// answered 200 must reach every agent, in order, none applied twice, and publishing must work
// again within 15 s of the kill.
//
// Every update PATCHes its number onto the end of a list, so an agent's list is exactly the
// updates it applied, in the order it applied them. A publish answered 503 may or may not have
// been stored (its update may show up, in its place); one answered 200 must.
#include <mutex>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/http_call.hpp"
#include "tests/support/process_fixture.hpp"
#include "tests/support/redis_sentinel.hpp"

namespace pdl::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class sentinel : public process_fixture {
 protected:
  // The servers and agents go before Redis does.
  ~sentinel() override { procs.stop_all(); }

  void SetUp() override {
    key = dir.file("signing.pem");
    auto k = run_command("/usr/bin/openssl", {"genrsa", "-out", key, "2048"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
  }

  std::map<std::string, std::string> server_env(const std::string& broadcast_uri) {
    return {{"OPAL_AUTH_MASTER_TOKEN", master}, {"OPAL_AUTH_PRIVATE_KEY", key},
            {"OPAL_AUTH_PRIVATE_KEY_FORMAT", "pem"}, {"OPAL_BROADCAST_URI", broadcast_uri},
            {"OPAL_BROADCAST_MIN_REPLICAS", "1"}, {"OPAL_SERVER_HOST", "127.0.0.1"},
            {"OPAL_SERVER_BIND_PORT", "0"}, {"OPAL_BROADCAST_CHANNEL_NAME", "sentinel-test"}};
  }

  int start_agent(const std::string& name, const std::vector<int>& servers,
                  const std::string& client_token) {
    const int opa = start_with_port(name + "-opa", "opa-standin", {"--addr", "127.0.0.1:0"}, {});
    std::string urls;
    for (int s : servers) urls += (urls.empty() ? "" : ",") + url(s);
    start_with_port(name, "opal-client", {"run", "--data-dir", dir.file(name + "-data")},
                    {{"OPAL_SERVER_URL", urls},
                     {"OPAL_CLIENT_TOKEN", client_token},
                     {"OPAL_DATA_TOPICS", "a"},
                     {"OPAL_POLICY_STORE_URL", url(opa)},
                     {"OPAL_CLIENT_API_SERVER_PORT", "0"}});
    return opa;
  }

  json store_value(int opa, const std::string& path) {
    auto r = http_call("GET", url(opa) + "/v1/data" + path);
    auto j = json::parse(r.body, nullptr, false);
    if (r.status != 200 || !j.is_object()) return json();
    return j.value("result", json());
  }

  static json append_update(int value) {
    return {{"entries",
             {{{"url", ""},
               {"topics", {"a"}},
               {"dst_path", "/log_a"},
               {"save_method", "PATCH"},
               {"data", {{{"op", "add"}, {"path", "/-"}, {"value", value}}}}}}},
            {"reason", "sentinel test"}};
  }
  static json reset_update() {
    return {{"entries",
             {{{"url", ""}, {"topics", {"a"}}, {"dst_path", "/log_a"}, {"data", json::array()}}}}};
  }

  std::string key;
  std::string master = "sentinel-test-master-token-0123456789";
};

/** One publish of the stream: its number, when it was sent, and the answer. */
struct publish_record {
  int n = 0;
  std::chrono::steady_clock::time_point sent;
  long status = 0;
  std::uint64_t seq = 0;
};

TEST_F(sentinel, a_primary_killed_mid_stream_loses_no_acknowledged_update) {
  if (!have_redis_sentinel()) GTEST_SKIP() << "redis-sentinel is not installed (scripts/setup.sh)";
  redis_sentinel_set redis(dir.file("redis"));
  const int first_primary = redis.node(0).port();
  ASSERT_TRUE(poll_until([&] { return redis.settled(first_primary, 1); }, 30000ms))
      << redis.logs();

  std::vector<int> servers;
  for (int i = 0; i < 2; ++i) {
    servers.push_back(start_with_port("server-" + std::to_string(i), "opal-server", {"run"},
                                      server_env(redis.uri())));
  }
  for (int s : servers) {
    ASSERT_TRUE(poll_until([&] { return http_call("GET", url(s) + "/ready").status == 200; }))
        << procs.logs();
  }
  const std::string client_token = mint_token(servers[0], master, "client");
  const std::string ds_token = mint_token(servers[1], master, "datasource");
  std::vector<int> opas;
  for (int i = 0; i < 4; ++i) {
    opas.push_back(start_agent("agent-" + std::to_string(i),
                               {servers[i % 2], servers[(i + 1) % 2]}, client_token));
  }
  auto reset = http_call("POST", url(servers[0]) + "/data/config", ds_token, reset_update().dump());
  ASSERT_EQ(reset.status, 200) << reset.body << procs.logs();

  // The stream: one publisher, one publish at a time, alternating between the servers.
  std::mutex mu;
  std::vector<publish_record> records;  // guarded by mu
  // Declared last: its destructor (stop, join) runs first, also when an assertion returns.
  std::jthread publisher([&](const std::stop_token& stop) {
    for (int n = 1; !stop.stop_requested(); ++n) {
      publish_record r{n, std::chrono::steady_clock::now(), 0, 0};
      auto a = http_call("POST", url(servers[n % 2]) + "/data/config", ds_token,
                         append_update(n).dump());
      r.status = a.status;
      if (a.status == 200) {
        r.seq = json::parse(a.body).value("seq", std::uint64_t{0});
      }
      std::lock_guard lk(mu);
      records.push_back(r);
    }
  });
  const auto acknowledged_since = [&](std::chrono::steady_clock::time_point t) {
    std::lock_guard lk(mu);
    int n = 0;
    for (const auto& r : records) n += r.status == 200 && r.sent >= t;
    return n;
  };

  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(poll_until([&] { return acknowledged_since(start) >= 30; }, 30000ms))
      << procs.logs();
  redis.node(0).kill();
  const auto killed = std::chrono::steady_clock::now();

  // The sentinels promote the replica; the old primary comes back as its replica (as an
  // orchestrator that asks the sentinels first restarts it), so min_replicas 1 can be met.
  int new_primary = 0;
  ASSERT_TRUE(poll_until(
      [&] {
        new_primary = redis.primary_port(0);
        return new_primary != 0 && new_primary != first_primary;
      },
      15000ms))
      << redis.logs();
  redis.restart_as_replica(0, new_primary);
  // Publishing works again within 15 s of the kill: a publish sent after the kill answered 200.
  const auto budget = 15000ms - std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - killed);
  ASSERT_TRUE(poll_until([&] { return acknowledged_since(killed) >= 1; }, budget))
      << redis.logs() << procs.logs();
  const auto resumed = std::chrono::steady_clock::now();
  ASSERT_TRUE(poll_until([&] { return acknowledged_since(resumed) >= 30; }, 30000ms))
      << procs.logs();
  publisher.request_stop();
  publisher.join();

  // Every 200 in publish order has a greater seq than the one before (one sequence).
  json acknowledged = json::array();
  std::uint64_t last_seq = 0;
  int refused = 0;
  for (const auto& r : records) {
    if (r.status != 200) {
      ++refused;
      continue;
    }
    EXPECT_GT(r.seq, last_seq) << "publish " << r.n;
    last_seq = r.seq;
    acknowledged.push_back(r.n);
  }
  EXPECT_GT(refused, 0) << "the kill should have refused some publishes";
  RecordProperty("acknowledged", static_cast<int>(acknowledged.size()));
  RecordProperty("refused", refused);
  RecordProperty("resumed_after_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      resumed - killed)
                                      .count()));
  const int last_acknowledged = acknowledged.back().get<int>();

  // Every agent: strictly increasing (in order, nothing twice) and every 200 in it.
  for (std::size_t i = 0; i < opas.size(); ++i) {
    json list;
    ASSERT_TRUE(poll_until(
        [&] {
          list = store_value(opas[i], "/log_a");
          return list.is_array() && !list.empty() && list.back().get<int>() >= last_acknowledged;
        },
        30000ms))
        << "agent " << i << ": " << list.dump() << procs.logs();
    std::size_t next = 0;
    int prev = 0;
    for (const auto& v : list) {
      EXPECT_GT(v.get<int>(), prev) << "agent " << i << " out of order or twice: " << list.dump();
      prev = v.get<int>();
      if (next < acknowledged.size() && v == acknowledged[next]) ++next;
    }
    EXPECT_EQ(next, acknowledged.size())
        << "agent " << i << " misses acknowledged update " << acknowledged[next].dump() << ": "
        << list.dump();
  }
  const auto logs = procs.all_logs();
  EXPECT_THAT(logs, HasSubstr("failover: the primary 'pdl-primary' is now 127.0.0.1:" +
                              std::to_string(new_primary)));
  EXPECT_EQ(logs.find("lost updates this replica had delivered"), std::string::npos);
  EXPECT_EQ(logs.find(ds_token), std::string::npos);
}

TEST_F(sentinel, min_replicas_without_a_replica_answers_503_and_says_why) {
  if (!have_redis_server()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh)";
  redis_server redis(dir.file("redis"));
  const int server = start_with_port("server", "opal-server", {"run"}, server_env(redis.uri()));
  ASSERT_TRUE(poll_until([&] { return http_call("GET", url(server) + "/ready").status == 200; }))
      << procs.logs();
  const std::string ds_token = mint_token(server, master, "datasource");
  json u = append_update(1);
  u["id"] = "wait-refused-1";
  auto a = http_call("POST", url(server) + "/data/config", ds_token, u.dump());
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_THAT(a.body, HasSubstr("broadcast.min_replicas"));
  EXPECT_THAT(a.body, HasSubstr("GET /data/updates/wait-refused-1"));
  // Still ready: Redis answers; only the replicas are missing.
  EXPECT_EQ(http_call("GET", url(server) + "/ready").status, 200);
}

}  // namespace
}  // namespace pdl::test
