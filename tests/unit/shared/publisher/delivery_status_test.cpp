#include "shared/publisher/delivery_status.hpp"

#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pdl::publisher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string error_of(const char* text) {
  try {
    (void)parse_delivery_status(nlohmann::json::parse(text));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(DeliveryStatus, MinimalAnswerHasEmptyLists) {
  auto s = parse_delivery_status(nlohmann::json::parse(R"({"id":"x","complete":true,"agents":{}})"));
  EXPECT_EQ(s.id, "x");
  EXPECT_FALSE(s.seq);
  EXPECT_TRUE(s.topics.empty());
  EXPECT_TRUE(s.subscribed.empty() && s.applied.empty() && s.failed.empty() && s.pending.empty());
  EXPECT_TRUE(s.all_applied());
}

TEST(DeliveryStatus, FailedAgentsWithoutErrors) {
  auto s = parse_delivery_status(nlohmann::json::parse(
      R"({"id":"x","complete":true,"agents":{"failed":[{"agent":"b"}]}})"));
  ASSERT_EQ(s.failed.size(), 1u);
  EXPECT_EQ(s.failed[0].agent, "b");
  EXPECT_TRUE(s.failed[0].errors.empty());
  EXPECT_FALSE(s.all_applied());
}

TEST(DeliveryStatus, ServerTextIsMadePrintable) {
  auto s = parse_delivery_status(nlohmann::json::parse(
      R"({"id":"x","complete":false,"agents":{"pending":["evil\u001b[2Jagent\nx"]}})"));
  EXPECT_THAT(s.pending, ElementsAre("evil [2Jagent x"));
  auto long_error = std::string(5000, 'e');
  auto doc = nlohmann::json::parse(R"({"id":"x","complete":true,"agents":{}})");
  doc["agents"]["failed"] = {{{"agent", "a"}, {"errors", {long_error}}}};
  auto f = parse_delivery_status(doc);
  EXPECT_LT(f.failed[0].errors[0].size(), 1010u);
}

TEST(DeliveryStatus, ReplicasWaitingAreRead) {
  auto s = parse_delivery_status(nlohmann::json::parse(
      R"({"id":"x","complete":false,"agents":{},"replicas":{"reported":1,"waiting":["r2"]}})"));
  EXPECT_THAT(s.waiting_replicas, ElementsAre("r2"));
  EXPECT_THAT(error_of(R"({"id":"x","complete":true,"agents":{},"replicas":[]})"),
              HasSubstr("replicas: expected an object"));
  EXPECT_THAT(error_of(R"({"id":"x","complete":true,"agents":{},"replicas":{"waiting":[1]}})"),
              HasSubstr("replicas.waiting[0]: expected a string"));
}

TEST(DeliveryStatus, SchemaErrorsNameTheField) {
  EXPECT_THAT(error_of("[]"), HasSubstr("expected a JSON object"));
  EXPECT_THAT(error_of(R"({"complete":true,"agents":{}})"), HasSubstr("id: missing"));
  EXPECT_THAT(error_of(R"({"id":1,"complete":true,"agents":{}})"), HasSubstr("id: expected a string"));
  EXPECT_THAT(error_of(R"({"id":"x","agents":{}})"), HasSubstr("complete: expected true or false"));
  EXPECT_THAT(error_of(R"({"id":"x","complete":"yes","agents":{}})"), HasSubstr("complete:"));
  EXPECT_THAT(error_of(R"({"id":"x","complete":true})"), HasSubstr("agents: expected an object"));
  EXPECT_THAT(error_of(R"({"id":"x","complete":true,"agents":{"applied":"a"}})"),
              HasSubstr("agents.applied: expected a list"));
  EXPECT_THAT(error_of(R"({"id":"x","complete":true,"agents":{"failed":[{"agent":"a"},{}]}})"),
              HasSubstr("agents.failed[1].agent: missing"));
  EXPECT_THAT(error_of(R"({"id":"x","complete":true,"agents":{"failed":[{"agent":"a","errors":[1]}]}})"),
              HasSubstr("agents.failed[0].errors[0]: expected a string"));
  EXPECT_THAT(error_of(R"({"id":"x","seq":-1,"complete":true,"agents":{}})"), HasSubstr("seq:"));
}

}  // namespace
}  // namespace pdl::publisher
