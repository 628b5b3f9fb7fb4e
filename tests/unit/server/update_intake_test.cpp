#include "server/update_intake.hpp"

#include <gtest/gtest.h>

#include "server/memory_update_log.hpp"
#include "tests/unit/server/test_server.hpp"
#include "tests/unit/server/ws_client.hpp"

namespace pdl::server {
namespace {

using namespace testing;
using nlohmann::json;

/** A log that fails on demand: plain failures (nothing assigned) or lost syncs (a seq assigned,
 *  then burned). It stores nothing: the intake only needs the seqs. */
class faulty_log final : public update_log {
 public:
  enum class mode { ok, fail, burn };
  std::atomic<mode> next{mode::ok};

  std::uint64_t append(const model::data_update&) override {
    std::lock_guard lock(mu_);
    switch (next.load()) {
      case mode::fail: throw update_log_error("disk on fire");
      case mode::burn: throw update_log_error("sync failed", ++head_);
      case mode::ok: break;
    }
    return ++head_;
  }
  std::vector<model::data_update> since(std::uint64_t) const override { return {}; }
  std::uint64_t head() const override {
    std::lock_guard lock(mu_);
    return head_;
  }

 private:
  mutable std::mutex mu_;
  std::uint64_t head_ = 0;  // guarded by mu_
};

class intake_faults : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = std::make_unique<faulty_log>();
    log_ = log.get();
    srv_ = server::start(test_config(keys_), std::move(log));
    datasource_ = mint(srv_->port(), "datasource");
  }
  reply publish() {
    return call(srv_->port(), "POST", "/data/config", datasource_, good_update({"f"}));
  }
  pem_pair keys_ = make_pem_pair();
  faulty_log* log_ = nullptr;
  std::unique_ptr<server> srv_;
  std::string datasource_;
};

TEST_F(intake_faults, an_update_the_log_refuses_is_503_and_never_delivered) {
  ws_client c(srv_->port(), mint(srv_->port(), "client"));
  ASSERT_TRUE(c.subscribe({"f"}));
  log_->next = faulty_log::mode::fail;
  auto r = publish();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body.find("fire"), std::string::npos);  // internal detail stays in the log
  EXPECT_EQ(r.json()["detail"]["error"], "the update log is unavailable, try again later");
  EXPECT_EQ(srv_->context().stats.updates_refused.load(), 1u);
  // Nothing was queued before the answer to this ping.
  auto ping = c.call("_ping_", "{}");
  EXPECT_EQ(c.expect_response(ping).result_json, R"("pong")");
}

TEST_F(intake_faults, a_lost_seq_does_not_hold_back_the_updates_after_it) {
  ws_client c(srv_->port(), mint(srv_->port(), "client"));
  ASSERT_TRUE(c.subscribe({"f"}));
  auto first = publish();
  ASSERT_EQ(first.status, 200);
  log_->next = faulty_log::mode::burn;
  EXPECT_EQ(publish().status, 503);  // seq 2 assigned, then lost
  log_->next = faulty_log::mode::ok;
  auto third = publish();
  ASSERT_EQ(third.status, 200);
  EXPECT_EQ(third.json()["seq"], 3);
  EXPECT_EQ(c.read_notify()["seq"], 1);
  EXPECT_EQ(c.read_notify()["seq"], 3);
  EXPECT_EQ(srv_->context().intake->published_seq(), 3u);
}

TEST_F(intake_faults, a_publisher_cannot_set_the_blob_the_server_fetched) {
  const std::string body = R"({"entries":[{"url":"https://s/a","topics":["f"],"blob":{"sha256":")" +
                           std::string(64, 'a') + R"(","size":3}}]})";
  auto r = call(srv_->port(), "POST", "/data/config", datasource_, body);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["detail"][0]["loc"], json({"body", "entries", 0, "blob"})) << r.body;
  EXPECT_EQ(log_->head(), 0U) << "nothing stored";
}

TEST(intake_restart, updates_already_in_the_log_are_known_to_the_delivery_tracker) {
  // A server restarted on its data dir: a publisher whose POST went unanswered asks for the id.
  memory_update_log log(100);
  for (int i = 1; i <= 5; ++i) {
    model::data_update u;
    u.id = "upd-" + std::to_string(i);
    model::data_source_entry e;
    e.topics = {"t" + std::to_string(i)};
    e.data_json = "{}";
    u.entries.push_back(e);
    ASSERT_EQ(log.append(u), static_cast<std::uint64_t>(i));
  }
  delivery_tracker tracker(3);  // keeps only the last three
  hub subscriptions;
  server_stats stats;
  update_intake intake(log, subscriptions, stats, {}, &tracker);
  EXPECT_EQ(tracker.tracked(), 3u);
  EXPECT_FALSE(tracker.status_json("upd-2").has_value());
  auto status = tracker.status_json("upd-5");
  ASSERT_TRUE(status.has_value());
  auto j = json::parse(*status);
  EXPECT_EQ(j["seq"], 5);
  EXPECT_EQ(j["topics"], json::array({"t5"}));
  EXPECT_EQ(intake.published_seq(), 5u);
}

}  // namespace
}  // namespace pdl::server
