#include "server/memory_update_log.hpp"

#include <algorithm>

namespace pdl::server {

memory_update_log::memory_update_log(std::size_t max_retained)
    : max_retained_(std::max<std::size_t>(max_retained, 1)) {}

std::uint64_t memory_update_log::append(const model::data_update& update) {
  std::lock_guard lock(mu_);
  model::data_update stored = update;
  stored.seq = head_ + 1;
  updates_.push_back(std::move(stored));
  ++head_;
  while (updates_.size() > max_retained_) {
    updates_.pop_front();
  }
  return head_;
}

std::vector<model::data_update> memory_update_log::since(std::uint64_t seq) const {
  std::lock_guard lock(mu_);
  auto first = std::upper_bound(updates_.begin(), updates_.end(), seq,
                                [](std::uint64_t s, const model::data_update& u) {
                                  return s < u.seq.value_or(0);
                                });
  return {first, updates_.end()};
}

std::uint64_t memory_update_log::head() const {
  std::lock_guard lock(mu_);
  return head_;
}

}  // namespace pdl::server
