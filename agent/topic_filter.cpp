#include "agent/topic_filter.hpp"

#include <algorithm>

#include "shared/model/topics.hpp"

namespace pdl::agent {

bool entry_matches(const model::data_source_entry& entry,
                   const std::vector<std::string>& agent_topics) {
  for (const auto& topic : entry.topics) {
    for (const auto& prefix : model::expand_topic(topic)) {
      if (std::find(agent_topics.begin(), agent_topics.end(), prefix) != agent_topics.end()) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace pdl::agent
