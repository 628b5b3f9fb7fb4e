#pragma once
// Accepted updates per topic, for GET /statistics (`publishes_by_topic`). Bounded: topics are
// client input, so past max_topics distinct names further ones share one bucket.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace pdl::server {

class topic_counts {
 public:
  /** Distinct topics counted by name; later new names go to other_bucket. */
  static constexpr std::size_t max_topics = 1000;
  /** The shared bucket's key ("__" topics are OPAL-internal, so no publisher uses this one). */
  static constexpr const char* other_bucket = "__other__";

  /** Counts one update for each distinct topic in @p topics. Thread-safe. */
  void add(const std::vector<std::string>& topics);
  /** topic -> count, the other_bucket included when used. Thread-safe. */
  std::map<std::string, std::uint64_t> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> counts_;  // guarded by mu_
  std::uint64_t other_ = 0;                      // guarded by mu_
};

}  // namespace pdl::server
