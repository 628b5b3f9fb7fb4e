#include "shared/model/topics.hpp"

#include <algorithm>
#include <unordered_set>

#include "shared/model/data_update.hpp"

namespace pdl::model {

std::vector<std::string> expand_topic(std::string_view topic) {
  std::string prefix;
  std::string_view hierarchy = topic;
  if (const auto colon = topic.rfind(':'); colon != std::string_view::npos) {
    prefix = std::string(topic.substr(0, colon + 1));  // keeps the ':' separator
    hierarchy = topic.substr(colon + 1);
  }
  std::vector<std::string> out;
  std::string current = prefix;
  bool first = true;
  while (!hierarchy.empty()) {
    const auto slash = hierarchy.find('/');
    const std::string_view seg = hierarchy.substr(0, slash);
    if (!seg.empty()) {
      if (!first) {
        current += '/';
      }
      current += seg;
      first = false;
      out.push_back(current);
    }
    if (slash == std::string_view::npos) {
      break;
    }
    hierarchy.remove_prefix(slash + 1);
  }
  return out;
}

std::vector<std::string> expand_topics(data_update& update) {
  std::vector<std::string> all;
  std::unordered_set<std::string> seen_all;
  for (auto& entry : update.entries) {
    std::vector<std::string> expanded;
    std::unordered_set<std::string> seen;
    for (const auto& topic : entry.topics) {
      for (auto& t : expand_topic(topic)) {
        if (seen.insert(t).second) {
          if (seen_all.insert(t).second) {
            all.push_back(t);
          }
          expanded.push_back(std::move(t));
        }
      }
    }
    entry.topics = std::move(expanded);
  }
  return all;
}

}  // namespace pdl::model
