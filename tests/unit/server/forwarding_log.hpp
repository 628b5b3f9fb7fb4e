#pragma once
// A memory_update_log behind an update_log that tests decorate: override append() to block,
// throw or count; every read goes to the memory log unchanged.
#include "server/memory_update_log.hpp"
#include "server/update_log.hpp"

namespace pdl::server::testing {

class forwarding_log : public update_log {
 public:
  explicit forwarding_log(std::size_t capacity) : inner_(capacity) {}

  std::uint64_t append(const model::data_update& update) override {
    return inner_.append(update);
  }
  std::vector<model::data_update> since(std::uint64_t seq) const override {
    return inner_.since(seq);
  }
  std::uint64_t head() const override { return inner_.head(); }
  log_batch read(std::uint64_t after_seq, std::uint64_t up_to,
                 const std::set<std::string>& topics, std::size_t max_records,
                 std::size_t max_bytes) const override {
    return inner_.read(after_seq, up_to, topics, max_records, max_bytes);
  }
  std::uint64_t first_seq() const override { return inner_.first_seq(); }
  std::string log_id() const override { return inner_.log_id(); }

 private:
  memory_update_log inner_;
};

}  // namespace pdl::server::testing
