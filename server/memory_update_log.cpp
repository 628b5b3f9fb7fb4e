#include "server/memory_update_log.hpp"

#include <algorithm>

namespace pdl::server {

memory_update_log::memory_update_log(std::size_t max_retained)
    : max_retained_(std::max<std::size_t>(max_retained, 1)) {}

std::uint64_t memory_update_log::append(const model::data_update& update) {
  stored s{update, {}};
  for (const auto& e : update.entries) {
    for (const auto& t : e.topics) {
      if (std::find(s.record.topics.begin(), s.record.topics.end(), t) == s.record.topics.end()) {
        s.record.topics.push_back(t);
      }
    }
  }
  s.record.id = update.id.value_or("");
  s.record.accepted_at = std::chrono::system_clock::now();
  std::lock_guard lock(mu_);
  s.update.seq = head_ + 1;
  s.record.seq = head_ + 1;
  s.record.json = std::make_shared<const std::string>(model::to_json(s.update));
  updates_.push_back(std::move(s));
  ++head_;
  while (updates_.size() > max_retained_) {
    updates_.pop_front();
  }
  return head_;
}

std::deque<memory_update_log::stored>::const_iterator memory_update_log::after(
    std::uint64_t seq) const {
  return std::upper_bound(updates_.begin(), updates_.end(), seq,
                          [](std::uint64_t s, const stored& u) { return s < u.record.seq; });
}

std::vector<model::data_update> memory_update_log::since(std::uint64_t seq) const {
  std::lock_guard lock(mu_);
  std::vector<model::data_update> out;
  for (auto it = after(seq); it != updates_.end(); ++it) {
    out.push_back(it->update);
  }
  return out;
}

log_batch memory_update_log::read(std::uint64_t after_seq, std::uint64_t up_to,
                                  const std::set<std::string>& topics, std::size_t max_records,
                                  std::size_t max_bytes) const {
  std::lock_guard lock(mu_);
  log_batch out;
  out.scanned_to = after_seq;
  up_to = std::min(up_to, head_);
  std::size_t bytes = 0;
  bool cut_short = false;
  for (auto it = after(after_seq); it != updates_.end() && it->record.seq <= up_to; ++it) {
    if (out.records.size() >= std::max<std::size_t>(max_records, 1) ||
        (bytes >= max_bytes && !out.records.empty())) {
      cut_short = true;
      break;
    }
    out.scanned_to = it->record.seq;
    if (topics_match(it->record.topics, topics)) {
      out.records.push_back(it->record);
      bytes += it->record.json->size();
    }
  }
  if (!cut_short) {
    out.scanned_to = std::max(out.scanned_to, up_to);
  }
  return out;
}

std::uint64_t memory_update_log::head() const {
  std::lock_guard lock(mu_);
  return head_;
}

std::uint64_t memory_update_log::first_seq() const {
  std::lock_guard lock(mu_);
  return updates_.empty() ? head_ + 1 : updates_.front().record.seq;
}

}  // namespace pdl::server
