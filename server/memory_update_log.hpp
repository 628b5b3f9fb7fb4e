#pragma once
// update_log in memory, bounded: the oldest updates are dropped past `max_retained`. Not durable:
// a restart starts again from seq 1 (the server WARNs when it runs without a data directory).
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
  log_batch read(std::uint64_t after_seq, std::uint64_t up_to,
                 const std::set<std::string>& topics, std::size_t max_records,
                 std::size_t max_bytes) const override;
  std::uint64_t first_seq() const override;

 private:
  struct stored {
    model::data_update update;
    log_record record;
  };
  std::deque<stored>::const_iterator after(std::uint64_t seq) const;  // mu_ held

  std::size_t max_retained_;
  mutable std::mutex mu_;
  std::deque<stored> updates_;  // guarded by mu_, ascending seq
  std::uint64_t head_ = 0;      // guarded by mu_
};

}  // namespace pdl::server
