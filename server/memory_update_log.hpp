#pragma once
// update_log in memory, bounded: the oldest updates are dropped past `max_retained`.
#include <deque>
#include <mutex>

#include "server/update_log.hpp"

namespace pdl::server {

class memory_update_log final : public update_log {
 public:
  /** @param max_retained at least 1 (0 is treated as 1). */
  explicit memory_update_log(std::size_t max_retained);

  std::uint64_t append(const model::data_update& update) override;
  std::vector<model::data_update> since(std::uint64_t seq) const override;
  std::uint64_t head() const override;

 private:
  std::size_t max_retained_;
  mutable std::mutex mu_;
  std::deque<model::data_update> updates_;  // guarded by mu_, ascending seq
  std::uint64_t head_ = 0;                  // guarded by mu_
};

}  // namespace pdl::server
