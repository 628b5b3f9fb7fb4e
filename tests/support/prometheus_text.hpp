#pragma once
// A strict reader of the Prometheus text format (0.0.4), for tests that scrape /metrics: every
// line must be a HELP, a TYPE or a sample of a declared metric, or parsing fails with the line.
#include <map>
#include <string>
#include <vector>

namespace pdl::test {

struct prom_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct prom_scrape {
  std::map<std::string, std::string> types;  // metric family -> counter|gauge|histogram|...
  std::vector<prom_sample> samples;

  /** The value of the one sample with @p name and these labels (a subset must match);
   *  throws std::out_of_range when there is none. */
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  bool has(const std::string& name) const;
};

/** @throws std::invalid_argument naming the line number and text of the first bad line. */
prom_scrape parse_prometheus_text(const std::string& text);

}  // namespace pdl::test
