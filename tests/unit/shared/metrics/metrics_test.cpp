#include "shared/metrics/metrics.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "tests/support/prometheus_text.hpp"

namespace pdl::metrics {
namespace {

TEST(metrics, RendersEveryKindInTheTextFormat) {
  histogram h({0.001, 0.01, 0.1});
  h.observe(0.0005);
  h.observe(0.005);
  h.observe(0.005);
  h.observe(7);
  registry r;
  r.add([&](writer& w) {
    w.counter("pdl_updates_total", "Updates.", 3, {{"result", "applied"}});
    w.counter("pdl_updates_total", "Updates.", 1, {{"result", "failed"}});
    w.gauge("pdl_lag", "Lag with \\ and \n in help.", -2, {{"agent", "a\"b\\c\nd"}});
    w.histogram("pdl_apply_seconds", "Apply latency.", h.read());
  });
  const auto text = r.render();
  const auto scrape = test::parse_prometheus_text(text);  // throws on any malformed line
  EXPECT_EQ(scrape.types.at("pdl_updates_total"), "counter");
  EXPECT_EQ(scrape.types.at("pdl_apply_seconds"), "histogram");
  EXPECT_EQ(scrape.value("pdl_updates_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(scrape.value("pdl_lag", {{"agent", "a\"b\\c\nd"}}), -2);  // escaped and read back
  EXPECT_EQ(scrape.value("pdl_apply_seconds_bucket", {{"le", "0.001"}}), 1);
  EXPECT_EQ(scrape.value("pdl_apply_seconds_bucket", {{"le", "0.01"}}), 3);
  EXPECT_EQ(scrape.value("pdl_apply_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(scrape.value("pdl_apply_seconds_count"), 4);
  EXPECT_NEAR(scrape.value("pdl_apply_seconds_sum"), 7.0105, 1e-9);
  EXPECT_GT(scrape.value("process_resident_memory_bytes"), 1e6);
  EXPECT_GT(scrape.value("process_open_fds"), 2);
  EXPECT_GT(scrape.value("process_start_time_seconds"), 1.7e9);
  EXPECT_GE(scrape.value("process_cpu_seconds_total"), 0);
}

TEST(metrics, TheParserRejectsMalformedLines) {
  EXPECT_THROW(test::parse_prometheus_text("x 1\n"), std::invalid_argument);  // no TYPE
  EXPECT_THROW(test::parse_prometheus_text("# TYPE x gauge\nx{a=\"1} 2\n"), std::invalid_argument);
  EXPECT_THROW(test::parse_prometheus_text("# TYPE x gauge\nx one\n"), std::invalid_argument);
  EXPECT_THROW(test::parse_prometheus_text("# TYPE x thing\n"), std::invalid_argument);
}

TEST(metrics, ConcurrentObservationsAreAllCounted) {
  histogram h(histogram::latency_bounds());
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) h.observe(0.002);
    });
  }
  for (auto& t : ts) t.join();
  const auto s = h.read();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_NEAR(s.sum, 80.0, 1e-6);
}

}  // namespace
}  // namespace pdl::metrics
