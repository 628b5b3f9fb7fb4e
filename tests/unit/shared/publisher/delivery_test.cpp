#include "shared/publisher/publisher.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/shared/publisher/delivery_server.hpp"

namespace pdl::publisher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using pdl::test::delivery_server;
using pdl::test::scripted_answer;

constexpr const char* publish_ok = R"({"status":"ok","id":"u-1","seq":1})";
const std::string pending_b =
    delivery_server::status_body("u-1", false, R"({"subscribed":["agent-a","agent-b"],
      "applied":["agent-a"],"failed":[],"pending":["agent-b"]})");
const std::string all_applied =
    delivery_server::status_body("u-1", true, R"({"subscribed":["agent-a","agent-b"],
      "applied":["agent-a","agent-b"],"failed":[],"pending":[]})");

client client_for(const delivery_server& s) {
  options o;
  o.server_url = s.url();
  o.token = secret("jwt-datasource-secret");
  return client(o);
}

TEST(Delivery, ReadsTheDocumentedShapeWithTheBearerToken) {
  delivery_server server(publish_ok, {{200, delivery_server::status_body("u-1", false, R"(
      {"subscribed":["agent-a","agent-b"],"applied":["agent-a"],
       "failed":[{"agent":"agent-b","errors":["/users: fetch failed: HTTP 401"]}],
       "pending":[]})")}});
  auto s = client_for(server).delivery("u-1");
  EXPECT_EQ(s.id, "u-1");
  EXPECT_EQ(s.seq, 1u);
  EXPECT_THAT(s.topics, ElementsAre("users", "billing"));
  EXPECT_EQ(s.accepted_at, "2026-11-28T10:00:00Z");
  EXPECT_FALSE(s.complete);
  EXPECT_THAT(s.subscribed, ElementsAre("agent-a", "agent-b"));
  EXPECT_THAT(s.applied, ElementsAre("agent-a"));
  ASSERT_EQ(s.failed.size(), 1u);
  EXPECT_EQ(s.failed[0].agent, "agent-b");
  EXPECT_THAT(s.failed[0].errors, ElementsAre("/users: fetch failed: HTTP 401"));
  EXPECT_TRUE(s.pending.empty());
  EXPECT_FALSE(s.all_applied());

  auto req = server.requests().at(0);
  EXPECT_THAT(req, HasSubstr("GET /data/updates/u-1 HTTP/1.1\r\n"));
  EXPECT_THAT(req, HasSubstr("Authorization: Bearer jwt-datasource-secret\r\n"));
}

TEST(Delivery, IdIsOnePathSegment) {
  delivery_server server(publish_ok, {{200, all_applied}});
  (void)client_for(server).delivery("a b/../c?d");
  EXPECT_THAT(server.requests().at(0), HasSubstr("GET /data/updates/a%20b%2F..%2Fc%3Fd HTTP"));
}

TEST(Delivery, UnknownIdIsA404WithAClearMessageAndNoToken) {
  delivery_server server(publish_ok, {{404, R"({"detail":"unknown update id"})"}});
  try {
    (void)client_for(server).delivery("u-9");
    FAIL() << "expected publish_error";
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_THAT(e.what(), HasSubstr("does not know update u-9"));
    EXPECT_THAT(e.what(), HasSubstr("unknown update id"));
    EXPECT_THAT(e.what(), Not(HasSubstr("jwt-datasource-secret")));
  }
}

TEST(Delivery, MalformedAnswerNamesTheField) {
  delivery_server server(publish_ok,
                         {{200, R"({"id":"u-1","complete":false,"agents":{"pending":[7]}})"}});
  try {
    (void)client_for(server).delivery("u-1");
    FAIL() << "expected publish_error";
  } catch (const publish_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("agents.pending[0]: expected a string"));
  }
}

TEST(Delivery, EmptyOrHugeIdIsRefusedBeforeSending) {
  delivery_server server(publish_ok, {{200, all_applied}});
  EXPECT_THROW((void)client_for(server).delivery(""), publish_error);
  EXPECT_THROW((void)client_for(server).delivery(std::string(300, 'x')), publish_error);
  EXPECT_TRUE(server.requests().empty());
}

TEST(WaitForDelivery, CompleteAtOnceMeansOneRequest) {
  delivery_server server(publish_ok, {{200, all_applied}});
  auto s = client_for(server).wait_for_delivery("u-1", std::chrono::seconds(10));
  EXPECT_TRUE(s.all_applied());
  EXPECT_EQ(server.get_count(), 1);
}

TEST(WaitForDelivery, PollsUntilComplete) {
  delivery_server server(publish_ok,
                         {{200, pending_b}, {200, pending_b}, {200, pending_b}, {200, all_applied}});
  auto s = client_for(server).wait_for_delivery("u-1", std::chrono::seconds(30));
  EXPECT_TRUE(s.complete);
  EXPECT_THAT(s.applied, ElementsAre("agent-a", "agent-b"));
  EXPECT_EQ(server.get_count(), 4);
}

TEST(WaitForDelivery, ReturnsTheLastStatusAtTheDeadline) {
  delivery_server server(publish_ok, {{200, pending_b}});
  auto s = client_for(server).wait_for_delivery("u-1", std::chrono::milliseconds(400));
  EXPECT_FALSE(s.complete);
  EXPECT_THAT(s.pending, ElementsAre("agent-b"));
  EXPECT_GE(server.get_count(), 2);  // it polled again rather than giving up after one look
}

TEST(WaitForDelivery, RetriesTransientErrors) {
  delivery_server server(publish_ok,
                         {{503, "busy"}, {502, "bad gateway"}, {200, all_applied}});
  auto s = client_for(server).wait_for_delivery("u-1", std::chrono::seconds(30));
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(server.get_count(), 3);
}

TEST(WaitForDelivery, TransientErrorsUntilTheDeadlineAreThrown) {
  delivery_server server(publish_ok, {{503, "busy"}});
  try {
    (void)client_for(server).wait_for_delivery("u-1", std::chrono::milliseconds(100));
    FAIL() << "expected publish_error";
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 503);
  }
}

TEST(WaitForDelivery, OtherErrorsAreThrownAtOnce) {
  delivery_server server(publish_ok, {{401, R"({"detail":"bad token"})"}, {200, all_applied}});
  try {
    (void)client_for(server).wait_for_delivery("u-1", std::chrono::seconds(30));
    FAIL() << "expected publish_error";
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_THAT(e.what(), HasSubstr("bad token"));
  }
  EXPECT_EQ(server.get_count(), 1);
}

TEST(WaitForDelivery, A404IsThrownAtOnce) {
  delivery_server server(publish_ok, {{404, R"({"detail":"Not Found"})"}, {200, all_applied}});
  try {
    (void)client_for(server).wait_for_delivery("u-1", std::chrono::seconds(30));
    FAIL() << "expected publish_error";
  } catch (const publish_error& e) {
    EXPECT_EQ(e.status(), 404);
  }
  EXPECT_EQ(server.get_count(), 1);
}

}  // namespace
}  // namespace pdl::publisher
