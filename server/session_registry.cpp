#include "server/session_registry.hpp"

namespace pdl::server {

void session_info::acknowledged(std::uint64_t seq) noexcept {
  auto raise = [seq](std::atomic<std::uint64_t>& a) {
    std::uint64_t cur = a.load(std::memory_order_relaxed);
    while ((cur == none || cur < seq) &&
           !a.compare_exchange_weak(cur, seq, std::memory_order_relaxed)) {
    }
  };
  raise(acked_);
  raise(position_);
}

void session_info::subscribed(std::optional<std::uint64_t> after_seq,
                              std::uint64_t published_now) noexcept {
  if (after_seq) {
    // The agent states what it holds (an agent that lost its data resubscribes from 0).
    position_.store(*after_seq, std::memory_order_relaxed);
    return;
  }
  std::uint64_t expected = none;
  position_.compare_exchange_strong(expected, published_now, std::memory_order_relaxed);
}

std::optional<std::uint64_t> session_info::applied_seq() const noexcept {
  std::uint64_t v = acked_.load(std::memory_order_relaxed);
  return v == none ? std::nullopt : std::optional<std::uint64_t>(v);
}

std::optional<std::uint64_t> session_info::lag(std::uint64_t published) const noexcept {
  std::uint64_t pos = position_.load(std::memory_order_relaxed);
  if (!protocol1 || pos == none) {
    return std::nullopt;
  }
  return published > pos ? published - pos : 0;
}

void session_registry::add(std::shared_ptr<session_info> s) {
  std::lock_guard lock(mu_);
  sessions_[s->session_id] = std::move(s);
}

void session_registry::remove(const std::string& session_id) {
  std::lock_guard lock(mu_);
  sessions_.erase(session_id);
}

std::vector<std::shared_ptr<const session_info>> session_registry::list() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const session_info>> out;
  out.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    out.push_back(s);
  }
  return out;
}

std::size_t session_registry::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace pdl::server
