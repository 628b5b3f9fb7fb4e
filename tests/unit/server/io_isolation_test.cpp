#include "server/async_dispatch.hpp"

#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/server/forwarding_log.hpp"
#include "tests/support/process.hpp"
#include "tests/support/prometheus_text.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

// STYLE H6: probes, /metrics, pings and replay keep answering while every publish is stuck in
// the update log (issue 9, point 2), and the number of stuck publishes is bounded.

namespace pdl::server {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using nlohmann::json;
using pdl::test::parse_prometheus_text;

// Generous: an answer that needs a blocked publish to finish never comes while the test holds
// the log, so any deadline tells the two apart; this one only has to absorb a slow CI machine.
constexpr auto deadline = 5s;

/** A memory_update_log whose appends wait while the gate is closed (the test seam for a hung
 *  disk or Redis). Reads are never held. */
class gated_log final : public testing::forwarding_log {
 public:
  gated_log() : forwarding_log(100000) {}

  void close_gate() {
    std::lock_guard lk(mu_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lk(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  /** Appends waiting at the gate now. */
  std::size_t waiting() const {
    std::lock_guard lk(mu_);
    return waiting_;
  }

  std::uint64_t append(const model::data_update& update) override {
    {
      std::unique_lock lk(mu_);
      ++waiting_;
      // Bounded so a failing test cannot hang the process; tests open the gate long before.
      cv_.wait_for(lk, 60s, [&] { return open_; });
      --waiting_;
    }
    return forwarding_log::append(update);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;        // guarded by mu_
  std::size_t waiting_ = 0;  // guarded by mu_
};

/** GET with a total deadline: the status, 0 when no answer came in time. */
long get_within(std::uint16_t port, const std::string& path, const std::string& token = "") {
  http_client::request req;
  req.method = "GET";
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  if (!token.empty()) {
    req.headers.emplace_back("Authorization", secret("Bearer " + token));
  }
  req.connect_timeout = deadline;
  req.total_timeout = deadline;
  auto result = http_client::perform(req);
  auto* res = std::get_if<http_client::response>(&result);
  return res ? res->status : 0;
}

/** Runs @p read (a blocking read on @p c) with the deadline; on timeout the socket is shut down
 *  (which ends the read with an error) and the test fails. */
template <class Fn>
auto read_within(ws_client& c, Fn read) -> decltype(read()) {
  auto fut = std::async(std::launch::async, std::move(read));
  if (fut.wait_for(deadline) != std::future_status::ready) {
    beast::error_code ec;
    c.stream().next_layer().shutdown(tcp::socket::shutdown_both, ec);
    ADD_FAILURE() << "no WebSocket answer within the deadline";
  }
  return fut.get();
}

/** `_ping_` over the RPC, with a WebSocket ping frame just before it; true when both were
 *  answered (the pong arrives before the RPC answer: the session handles frames in order). */
bool pings_answered(ws_client& c) {
  bool pong = false;
  c.stream().control_callback([&](websocket::frame_type kind, beast::string_view) {
    pong = pong || kind == websocket::frame_type::pong;
  });
  c.stream().ping({});
  const std::string id = c.call("_ping_", "{}");
  bool answered = read_within(c, [&] {
    for (;;) {
      rpc::frame f = c.read();
      if (f.resp && f.resp->call_id == id) {
        return f.resp->result_json == R"("pong")";
      }
    }
  });
  c.stream().control_callback();
  return answered && pong;
}

json ws_publish_args(const std::string& topic, const std::string& data) {
  return {{"topics", {topic}}, {"data", json::parse(good_update({topic}, data))}};
}

class io_isolation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { keys_ = new pem_pair(make_pem_pair()); }
  static void TearDownTestSuite() { delete keys_; }

  void start(std::size_t max_pending = 64) {
    auto cfg = test_config(*keys_);
    cfg.threads = 2;  // as in production: two I/O threads that blocked publishes used to hold
    cfg.max_pending_publishes = max_pending;
    cfg.ws_send_queue_max = 64;
    auto log = std::make_unique<gated_log>();
    log_ = log.get();
    srv_ = server::start(cfg, std::move(log));
    datasource_ = mint(port(), "datasource");
    client_ = mint(port(), "client");
  }
  void TearDown() override {
    if (log_ != nullptr) {
      log_->open_gate();  // before the server joins its publish pool
    }
    srv_.reset();
  }
  std::uint16_t port() const { return srv_->port(); }
  server_context& ctx() { return srv_->context(); }

  std::future<reply> publish_async(const std::string& topic, const std::string& data) {
    return std::async(std::launch::async, [this, topic, data] {
      return call(port(), "POST", "/data/config", datasource_, good_update({topic}, data));
    });
  }

  static pem_pair* keys_;
  gated_log* log_ = nullptr;
  std::unique_ptr<server> srv_;
  std::string datasource_;
  std::string client_;
};
pem_pair* io_isolation::keys_ = nullptr;

TEST_F(io_isolation, probes_pings_and_replay_answer_while_publishes_wait_for_the_log) {
  start();
  // Three updates already in the log.
  for (int i = 1; i <= 3; ++i) {
    auto r = call(port(), "POST", "/data/config", datasource_,
                  good_update({"t"}, R"({"n":)" + std::to_string(i) + "}"));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ws_client live(port(), client_, ws_client::protocol1("live"));
  ASSERT_EQ(live.subscribe_after({"t"}, 3), "true");
  ws_client pub(port(), datasource_, ws_client::protocol1("pub"));
  ASSERT_FALSE(pub.handshake_error()) << pub.handshake_error().message();

  log_->close_gate();
  constexpr int http_publishes = 12;
  std::vector<std::future<reply>> http;
  for (int i = 0; i < http_publishes; ++i) {
    http.push_back(publish_async("t", R"({"h":)" + std::to_string(i) + "}"));
  }
  // Two over the datasource's socket, answered later; its session must keep reading meanwhile.
  std::vector<std::string> ws_ids;
  for (int i = 0; i < 2; ++i) {
    ws_ids.push_back(pub.call("publish", ws_publish_args("t", R"({"w":)" + std::to_string(i) +
                                                                   "}").dump()));
  }
  constexpr int total = http_publishes + 2;
  ASSERT_TRUE(test::poll_until([&] { return log_->waiting() >= 2; })) << log_->waiting();
  EXPECT_TRUE(test::poll_until([&] { return ctx().stats.pending_publishes.load() == total; }))
      << ctx().stats.pending_publishes.load();
  EXPECT_TRUE(test::poll_until([&] { return log_->waiting() == 4; }))  // the publish pool
      << log_->waiting();

  // Everything cheap answers while the log holds every publish.
  EXPECT_EQ(get_within(port(), "/healthcheck"), 200);
  EXPECT_EQ(get_within(port(), "/ready"), 200);
  EXPECT_EQ(get_within(port(), "/metrics"), 200);
  EXPECT_EQ(get_within(port(), "/statistics", master_token), 200);
  EXPECT_TRUE(pings_answered(live));
  EXPECT_TRUE(pings_answered(pub));
  // A new agent resuming from 0 is replayed what the log already holds.
  ws_client late(port(), client_, ws_client::protocol1("late"));
  ASSERT_EQ(read_within(late, [&] { return late.subscribe_after({"t"}, 0); }), "true");
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    EXPECT_EQ(read_within(late, [&] { return late.read_notify(); })["seq"], seq);
  }
  EXPECT_TRUE(pings_answered(late));
  EXPECT_EQ(log_->waiting(), 4u);  // still held: the answers above did not need the log

  // Released: every publish is stored and answered, and delivered in seq order.
  log_->open_gate();
  std::set<std::uint64_t> answered;
  for (auto& f : http) {
    reply r = f.get();
    ASSERT_EQ(r.status, 200) << r.body;
    answered.insert(r.json()["seq"].get<std::uint64_t>());
  }
  std::set<std::string> pending_ids(ws_ids.begin(), ws_ids.end());
  while (!pending_ids.empty()) {
    rpc::frame f = read_within(pub, [&] { return pub.read(); });
    ASSERT_TRUE(f.resp);
    EXPECT_EQ(f.resp->result_json, "true");
    EXPECT_EQ(pending_ids.erase(f.resp->call_id), 1u);
  }
  EXPECT_EQ(answered.size(), static_cast<std::size_t>(http_publishes));
  for (ws_client* c : {&live, &late}) {
    std::vector<std::uint64_t> seqs;
    for (int i = 0; i < total; ++i) {
      seqs.push_back(read_within(*c, [&] { return c->read_notify(); })["seq"]);
    }
    for (int i = 0; i < total; ++i) {
      EXPECT_EQ(seqs[i], 4u + i);  // 4..17, in order, none twice
    }
    for (auto seq : answered) {
      EXPECT_NE(std::find(seqs.begin(), seqs.end(), seq), seqs.end()) << seq;
    }
  }
  EXPECT_EQ(ctx().stats.pending_publishes.load(), 0);
}

TEST_F(io_isolation, over_max_pending_publishes_is_503_with_retry_after_and_nothing_accepted_is_lost) {
  start(3);
  ws_client live(port(), client_, ws_client::protocol1("live"));
  ASSERT_EQ(live.subscribe_after({"b"}, 0), "true");
  ws_client pub(port(), datasource_, ws_client::protocol1("pub"));
  auto scrape = [&] { return parse_prometheus_text(call(port(), "GET", "/metrics").body); };
  const double overloaded_before =
      scrape().value("pdl_server_updates_refused_total", {{"reason", "overloaded"}});

  log_->close_gate();
  std::vector<std::future<reply>> accepted;
  for (int i = 0; i < 3; ++i) {
    accepted.push_back(publish_async("b", R"({"a":)" + std::to_string(i) + "}"));
  }
  ASSERT_TRUE(test::poll_until([&] { return log_->waiting() == 3; })) << log_->waiting();

  // One more over HTTP: refused at once, with the same error shape as the other 503s.
  reply over = call(port(), "POST", "/data/config", datasource_, good_update({"b"}));
  EXPECT_EQ(over.status, 503);
  EXPECT_EQ(over.raw.header("retry-after").value_or(""), "1");
  EXPECT_THAT(over.json()["detail"]["error"].get<std::string>(),
              ::testing::HasSubstr("too many publishes are waiting"));
  // And over the socket: false.
  auto id = pub.call("publish", ws_publish_args("b", R"({"ws":1})").dump());
  rpc::response ws_over = read_within(pub, [&] { return pub.expect_response(id); });
  EXPECT_EQ(ws_over.result_json, "false");
  auto m = scrape();
  EXPECT_EQ(m.value("pdl_server_updates_refused_total", {{"reason", "overloaded"}}) -
                overloaded_before,
            2);
  EXPECT_EQ(m.value("pdl_server_pending_publishes"), 3);

  log_->open_gate();
  std::vector<std::uint64_t> seqs;
  for (auto& f : accepted) {
    reply r = f.get();
    ASSERT_EQ(r.status, 200) << r.body;
    seqs.push_back(r.json()["seq"].get<std::uint64_t>());
  }
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 3}));  // the refused ones took no seq
  for (std::uint64_t seq : seqs) {
    EXPECT_EQ(read_within(live, [&] { return live.read_notify(); })["seq"], seq);
  }
  EXPECT_EQ(ctx().updates->head(), 3u);
  EXPECT_TRUE(test::poll_until([&] { return ctx().stats.pending_publishes.load() == 0; }));
  // Room again: the next publish goes through.
  EXPECT_EQ(call(port(), "POST", "/data/config", datasource_, good_update({"b"})).status, 200);
}

TEST(io_isolation_redis, probes_and_metrics_answer_while_redis_is_frozen_and_publishing_resumes) {
  if (!test::have_redis_server()) {
    GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh)";
  }
  test::temp_dir dir;
  test::redis_server redis(dir.file("redis"));
  pem_pair keys = make_pem_pair();
  auto cfg = test_config(keys);
  cfg.threads = 2;
  cfg.broadcast_uri = secret(redis.uri());
  cfg.broadcast_timeout = 1000ms;
  // The 12 publishes held by the frozen log are released at once while `live` is not reading:
  // room for all of them, or the server rightly drops the slow subscriber (1013).
  cfg.ws_send_queue_max = 64;
  auto srv = server::start(cfg);
  const auto port = srv->port();
  const std::string datasource = mint(port, "datasource");
  ASSERT_TRUE(test::poll_until([&] { return get_within(port, "/ready") == 200; }));
  ws_client live(port, mint(port, "client"), ws_client::protocol1("live"));
  ASSERT_EQ(live.subscribe_after({"r"}, 0), "true");
  ASSERT_EQ(call(port, "POST", "/data/config", datasource, good_update({"r"})).status, 200);
  EXPECT_EQ(read_within(live, [&] { return live.read_notify(); })["seq"], 1);

  std::vector<std::future<reply>> stuck;
  {
    test::frozen_redis frozen(redis);  // thawed when this block ends, whatever happens in it
    for (int i = 0; i < 12; ++i) {
      stuck.push_back(std::async(std::launch::async, [&] {
        return call(port, "POST", "/data/config", datasource, good_update({"r"}));
      }));
    }
    EXPECT_TRUE(
        test::poll_until([&] { return srv->context().stats.pending_publishes.load() >= 8; }));
    EXPECT_EQ(get_within(port, "/healthcheck"), 200);
    EXPECT_NE(get_within(port, "/ready"), 0);  // 200, or 503 once the tail noticed
    EXPECT_EQ(get_within(port, "/metrics"), 200);
    EXPECT_TRUE(pings_answered(live));
    EXPECT_GT(srv->context().stats.pending_publishes.load(), 0);  // still stuck
  }
  for (auto& f : stuck) {
    reply r = f.get();
    EXPECT_TRUE(r.status == 200 || r.status == 503) << r.status << " " << r.body;
  }
  // Thawed: publishing works again and reaches the subscriber.
  std::uint64_t seq = 0;
  ASSERT_TRUE(test::poll_until([&] {
    reply r = call(port, "POST", "/data/config", datasource, good_update({"r"}, R"({"after":1})"));
    if (r.status != 200) {
      return false;
    }
    seq = r.json()["seq"].get<std::uint64_t>();
    return true;
  }));
  for (;;) {
    json u = read_within(live, [&] { return live.read_notify(); });
    ASSERT_LE(u["seq"].get<std::uint64_t>(), seq);
    if (u["seq"] == seq) {
      EXPECT_EQ(u["entries"][0]["data"]["after"], 1);
      break;
    }
  }
  EXPECT_EQ(get_within(port, "/ready"), 200);
}

}  // namespace
}  // namespace pdl::server
