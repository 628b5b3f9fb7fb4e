#pragma once
// Which entries an agent applies: those for one of its topics, including topics below them.
#include <string>
#include <vector>

#include "shared/model/data_update.hpp"

namespace pdl::agent {

/**
 * True when one of @p entry's topics equals, or is below, one of @p agent_topics
 * ("policy_data/users" matches an agent on "policy_data"). Base-config entries are not expanded
 * by the server, so this expands them here (model::expand_topic), which also fixes OPAL's
 * readiness hang for base topics below the agent's.
 */
bool entry_matches(const model::data_source_entry& entry,
                   const std::vector<std::string>& agent_topics);

}  // namespace pdl::agent
