#include "server/topic_counts.hpp"

#include <set>

namespace pdl::server {

void topic_counts::add(const std::vector<std::string>& topics) {
  const std::set<std::string> distinct(topics.begin(), topics.end());
  std::lock_guard lock(mu_);
  for (const auto& t : distinct) {
    if (auto it = counts_.find(t); it != counts_.end()) {
      ++it->second;
    } else if (counts_.size() < max_topics) {
      counts_.emplace(t, 1);
    } else {
      ++other_;
    }
  }
}

std::map<std::string, std::uint64_t> topic_counts::snapshot() const {
  std::lock_guard lock(mu_);
  auto out = counts_;
  if (other_ != 0) {
    out[other_bucket] += other_;
  }
  return out;
}

}  // namespace pdl::server
