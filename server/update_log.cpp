#include "server/update_log.hpp"

#include <algorithm>

#include "shared/auth/token_request.hpp"  // make_uuid4

namespace pdl::server {
namespace {

std::vector<std::string> union_topics(const model::data_update& u) {
  std::vector<std::string> all;
  for (const auto& e : u.entries) {
    for (const auto& t : e.topics) {
      if (std::find(all.begin(), all.end(), t) == all.end()) {
        all.push_back(t);
      }
    }
  }
  return all;
}

}  // namespace

update_log::update_log() : log_id_(auth::make_uuid4()) {}

std::vector<std::string> log_topics(const model::data_update& update) {
  return union_topics(update);
}

bool topics_match(const std::vector<std::string>& record_topics,
                  const std::set<std::string>& wanted) {
  if (wanted.empty()) {
    return true;
  }
  return std::any_of(record_topics.begin(), record_topics.end(),
                     [&](const std::string& t) { return wanted.count(t) != 0; });
}

log_batch update_log::read(std::uint64_t after_seq, std::uint64_t up_to,
                           const std::set<std::string>& topics, std::size_t max_records,
                           std::size_t max_bytes) const {
  log_batch out;
  out.scanned_to = after_seq;
  std::size_t bytes = 0;
  up_to = std::min(up_to, head());
  bool cut_short = false;
  for (auto& u : since(after_seq)) {
    std::uint64_t seq = u.seq.value_or(0);
    if (seq > up_to) {
      break;
    }
    if (out.records.size() >= std::max<std::size_t>(max_records, 1) ||
        (bytes >= max_bytes && !out.records.empty())) {
      cut_short = true;
      break;
    }
    out.scanned_to = seq;
    auto t = union_topics(u);
    if (!topics_match(t, topics)) {
      continue;
    }
    log_record r;
    r.seq = seq;
    r.id = u.id.value_or("");
    r.topics = std::move(t);
    r.json = std::make_shared<const std::string>(model::to_json(u));
    bytes += r.json->size();
    out.records.push_back(std::move(r));
  }
  if (!cut_short) {
    out.scanned_to = std::max(out.scanned_to, up_to);
  }
  return out;
}

std::vector<model::data_update> update_log::since_by_reading(std::uint64_t seq,
                                                             std::size_t batch_records,
                                                             std::size_t batch_bytes) const {
  std::vector<model::data_update> out;
  const std::uint64_t end = head();
  while (seq < end) {
    log_batch batch = read(seq, end, {}, batch_records, batch_bytes);
    for (const auto& r : batch.records) {
      out.push_back(model::parse_data_update(*r.json));
    }
    if (batch.scanned_to <= seq) {
      break;
    }
    seq = batch.scanned_to;
  }
  return out;
}

std::uint64_t update_log::first_seq() const {
  auto all = since(0);
  return all.empty() ? head() + 1 : all.front().seq.value_or(head() + 1);
}

}  // namespace pdl::server
