#include "agent/supervisor.hpp"

#include <gtest/gtest.h>

#include "tests/unit/agent/loop.hpp"

namespace pdl::agent {
namespace {

using namespace std::chrono_literals;
using test::run_until;

struct not_a_std_exception {};

TEST(supervisor, a_loop_that_throws_anything_is_restarted_until_it_ends_normally) {
  net::io_context ioc;
  int runs = 0;
  bool stopping = false;
  std::string gave_up;
  supervisor_options o;
  o.delay = 1ms;
  o.max_delay = 2ms;
  o.give_up_after = 3;
  supervise(
      ioc, "test loop",
      [&runs]() -> net::awaitable<void> {
        ++runs;
        if (runs == 1) {
          throw not_a_std_exception{};
        }
        if (runs <= 4) {
          throw std::runtime_error("boom " + std::to_string(runs));
        }
        co_return;
      },
      [&stopping] { return stopping; }, [&gave_up](const std::string& why) { gave_up = why; },
      o);
  ASSERT_TRUE(run_until(ioc, [&] { return runs == 5 && ioc.stopped(); }));
  EXPECT_NE(gave_up.find("test loop keeps failing: boom 3"), std::string::npos);
}

TEST(supervisor, nothing_is_restarted_once_stopping) {
  net::io_context ioc;
  int runs = 0;
  bool stopping = false;
  supervisor_options o;
  o.delay = 1ms;
  supervise(
      ioc, "test loop",
      [&]() -> net::awaitable<void> {
        ++runs;
        stopping = true;
        throw std::runtime_error("late failure");
        co_return;
      },
      [&stopping] { return stopping; }, {}, o);
  ioc.run_for(100ms);
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(ioc.stopped());
}

TEST(supervisor, describe_names_non_standard_exceptions) {
  EXPECT_EQ(describe(std::make_exception_ptr(not_a_std_exception{})), "unknown exception");
  EXPECT_EQ(describe(std::make_exception_ptr(std::runtime_error("x"))), "x");
  EXPECT_EQ(describe(nullptr), "no error");
}

}  // namespace
}  // namespace pdl::agent
