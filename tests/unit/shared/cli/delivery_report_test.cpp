#include "shared/cli/delivery_report.hpp"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pdl::cli {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;

struct printed {
  int code;
  std::string out;
  std::string err;
};

printed report(const publisher::delivery_status& s, milliseconds waited = milliseconds(30000)) {
  std::ostringstream out, err;
  int code = report_delivery(s, waited, out, err);
  return {code, out.str(), err.str()};
}

TEST(DeliveryReport, FormatsTheWait) {
  EXPECT_EQ(format_wait(milliseconds(30000)), "30s");
  EXPECT_EQ(format_wait(milliseconds(2500)), "2.5s");
  EXPECT_EQ(format_wait(milliseconds(200)), "200ms");
}

TEST(DeliveryReport, AllApplied) {
  publisher::delivery_status s;
  s.complete = true;
  s.subscribed = s.applied = {"a", "b"};
  auto p = report(s);
  EXPECT_EQ(p.code, wait_all_applied);
  EXPECT_EQ(p.out, "Applied by 2 agent(s): a, b\n");
  EXPECT_EQ(p.err, "");
}

TEST(DeliveryReport, NobodySubscribedIsAWarningNotAFailure) {
  publisher::delivery_status s;
  s.complete = true;
  s.topics = {"userz"};
  auto p = report(s);
  EXPECT_EQ(p.code, wait_all_applied);
  EXPECT_EQ(p.out, "Applied by 0 agent(s)\n");
  EXPECT_THAT(p.err, HasSubstr("warning: no agent is subscribed to topics userz"));
}

TEST(DeliveryReport, PendingAgentsAtTheDeadline) {
  publisher::delivery_status s;
  s.subscribed = {"a", "c", "d"};
  s.applied = {"a"};
  s.pending = {"c", "d"};
  auto p = report(s, milliseconds(5000));
  EXPECT_EQ(p.code, wait_timed_out);
  EXPECT_EQ(p.out, "Applied by 1 agent(s): a\n");
  EXPECT_THAT(p.err, HasSubstr("c: not applied within 5s\nd: not applied within 5s\n"));
  EXPECT_THAT(p.err, HasSubstr("OPAL clients"));
}

TEST(DeliveryReport, FailuresJoinTheirErrors) {
  publisher::delivery_status s;
  s.complete = true;
  s.subscribed = {"b"};
  s.failed = {{"b", {"/users: fetch failed: HTTP 401", "/groups: 400 from OPA"}}};
  auto p = report(s);
  EXPECT_EQ(p.code, wait_failed);
  EXPECT_EQ(p.out, "");
  EXPECT_EQ(p.err, "b: failed: /users: fetch failed: HTTP 401; /groups: 400 from OPA\n");
}

TEST(DeliveryReport, IncompleteWithNothingPendingIsStillNotSuccess) {
  publisher::delivery_status s;
  s.subscribed = {"a"};
  auto p = report(s);
  EXPECT_EQ(p.code, wait_timed_out);
  EXPECT_THAT(p.err, HasSubstr("not complete"));
}

TEST(DeliveryReport, ReplicasThatHaveNotReportedAreNamedNotTakenForNoAgent) {
  publisher::delivery_status s;
  s.topics = {"users"};
  s.waiting_replicas = {"r2"};
  auto p = report(s, milliseconds(5000));
  EXPECT_EQ(p.code, wait_timed_out);
  EXPECT_THAT(p.err, HasSubstr("1 server replica(s) have not reported their agents within 5s: r2"));
  EXPECT_THAT(p.err, ::testing::Not(HasSubstr("no agent is subscribed")));
  EXPECT_THAT(p.err, ::testing::Not(HasSubstr("not complete")));
}

}  // namespace
}  // namespace pdl::cli
