#include "server/hub.hpp"

#include "shared/rpc/rpc.hpp"

namespace pdl::server {

void hub::attach(const std::shared_ptr<subscriber>& s) {
  std::lock_guard lock(mu_);
  sessions_[s->id()] = entry{s, {}};
}

void hub::detach(const std::string& id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

void hub::subscribe(const std::string& id, const std::vector<std::string>& topics) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) {
    it->second.topics.insert(topics.begin(), topics.end());
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
  auto it = sessions_.find(id);
  return it == sessions_.end() ? std::set<std::string>{} : it->second.topics;
}

std::size_t hub::publish(const model::data_update& update,
                         const std::vector<std::string>& topics) {
  struct recipient {
    std::shared_ptr<subscriber> session;
    const std::string* topic;
  };
  std::vector<recipient> recipients;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_) {
      for (const auto& t : topics) {
        if (e.topics.count(t) != 0) {
          if (auto s = e.session.lock()) {
            recipients.push_back({std::move(s), &t});
          }
          break;
        }
      }
    }
  }
  if (recipients.empty()) {
    return 0;
  }
  // One call id per update: ids only need to be unique per channel.
  auto tail = notify_tail(model::to_json(update), rpc::new_call_id());
  for (auto& r : recipients) {
    const std::string& sid = r.session->id();
    r.session->deliver(outgoing_frame{notify_head(sid, sid, *r.topic), tail, update.seq.value_or(0)});
  }
  return recipients.size();
}

std::size_t hub::announce(const std::vector<std::string>& topics, const std::string& data_json) {
  struct recipient {
    std::shared_ptr<subscriber> session;
    std::size_t topic;
  };
  std::vector<recipient> recipients;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : sessions_) {
      for (std::size_t i = 0; i < topics.size(); ++i) {
        if (e.topics.count(topics[i]) != 0) {
          if (auto s = e.session.lock()) {
            recipients.push_back({std::move(s), i});
          }
        }
      }
    }
  }
  std::vector<std::shared_ptr<const std::string>> tails(topics.size());
  for (auto& r : recipients) {
    auto& tail = tails[r.topic];
    if (!tail) {
      tail = notify_tail(data_json, rpc::new_call_id());
    }
    const std::string& sid = r.session->id();
    r.session->deliver(outgoing_frame{notify_head(sid, sid, topics[r.topic]), tail, 0});
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
