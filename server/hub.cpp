#include "server/hub.hpp"

#include "shared/rpc/rpc.hpp"

namespace pdl::server {

void hub::attach(const std::shared_ptr<subscriber>& s) {
  std::lock_guard lock(mu_);
  sessions_[s->id()] = entry{s, s->lane(), {}};
}

void hub::detach(const std::string& id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

void hub::subscribe(const std::string& id, const std::vector<std::string>& topics) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return;
  }
  for (const auto& t : topics) {
    auto& head = it->second.topics[t];
    if (!head) {
      head = std::make_shared<const std::string>(notify_head(id, id, t));
    }
  }
}

void hub::unsubscribe(const std::string& id, const std::vector<std::string>& topics) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) {
    for (const auto& t : topics) {
      it->second.topics.erase(t);
    }
  }
}

std::set<std::string> hub::topics_of(const std::string& id) const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  auto it = sessions_.find(id);
  if (it != sessions_.end()) {
    for (const auto& [t, head] : it->second.topics) {
      out.insert(out.end(), t);
    }
  }
  return out;
}

namespace {

template <class List>
auto& group_of(List& by_lane, delivery_lane* lane) {
  for (auto& [l, list] : by_lane) {
    if (l == lane) {
      return list;
    }
  }
  return by_lane.emplace_back(lane, typename List::value_type::second_type{}).second;
}

}  // namespace

std::size_t hub::publish(const model::data_update& update,
                         const std::vector<std::string>& topics) {
  std::vector<std::pair<delivery_lane*, std::vector<recipient>>> by_lane;
  std::size_t count = 0;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_) {
      for (const auto& t : topics) {
        auto it = e.topics.find(t);
        if (it == e.topics.end()) {
          continue;
        }
        if (auto s = e.session.lock()) {
          group_of(by_lane, e.lane).push_back(recipient{std::move(s), it->second});
          ++count;
        }
        break;
      }
    }
  }
  if (count == 0) {
    return 0;
  }
  // One call id per update: ids only need to be unique per channel.
  hand_over(std::move(by_lane), notify_tail(model::to_json(update), rpc::new_call_id()),
            update.seq.value_or(0));
  return count;
}

void hub::hand_over(std::vector<std::pair<delivery_lane*, std::vector<recipient>>> by_lane,
                    std::shared_ptr<const std::string> tail, std::uint64_t seq) {
  for (auto& [lane, list] : by_lane) {
    if (lane == nullptr) {
      for (auto& r : list) {
        r.session->deliver(outgoing_frame{std::move(r.head), tail, seq});
      }
      continue;
    }
    lane->post([list = std::move(list), tail, seq, observer = on_delivered_]() mutable {
      std::vector<const std::string*> agents;
      agents.reserve(list.size());
      for (auto& r : list) {
        if (const auto* agent = r.session->deliver_here(outgoing_frame{std::move(r.head), tail, seq})) {
          agents.push_back(agent);
        }
      }
      if (seq != 0 && !agents.empty() && observer) {
        observer(seq, agents);
      }
    });
  }
}

std::size_t hub::announce(const std::vector<std::string>& topics, const std::string& data_json) {
  struct recipient_topic {
    std::shared_ptr<subscriber> session;
    std::size_t topic;
    std::shared_ptr<const std::string> head;
  };
  std::vector<recipient_topic> recipients;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_) {
      for (std::size_t i = 0; i < topics.size(); ++i) {
        auto it = e.topics.find(topics[i]);
        if (it != e.topics.end()) {
          if (auto s = e.session.lock()) {
            recipients.push_back({std::move(s), i, it->second});
          }
        }
      }
    }
  }
  // Rare (a policy change): one post per frame is fine here.
  std::vector<std::shared_ptr<const std::string>> tails(topics.size());
  for (auto& r : recipients) {
    auto& tail = tails[r.topic];
    if (!tail) {
      tail = notify_tail(data_json, rpc::new_call_id());
    }
    r.session->deliver(outgoing_frame{std::move(r.head), tail, 0});
  }
  return recipients.size();
}

std::size_t hub::session_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

void hub::shut_down_all() {
  std::vector<std::shared_ptr<subscriber>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_) {
      if (auto s = e.session.lock()) {
        all.push_back(std::move(s));
      }
    }
  }
  for (auto& s : all) {
    s->shut_down();
  }
}

}  // namespace pdl::server
