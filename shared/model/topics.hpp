#pragma once
// Hierarchical topics, as OPAL expands them on publish.
#include <string>
#include <string_view>
#include <vector>

namespace pdl::model {

/** Every prefix of a '/'-separated topic: "a/b/c" -> {"a","a/b","a/b/c"}. When the topic holds a
 *  ':', only the part after the right-most ':' is split and the left part is kept in front:
 *  "x:y:a/b" -> {"x:y:a","x:y:a/b"}. Empty segments are skipped. */
std::vector<std::string> expand_topic(std::string_view topic);

struct data_update;
/** Replaces each entry's topics by their expansion (order kept, duplicates removed) and returns
 *  the union over all entries, in first-seen order. */
std::vector<std::string> expand_topics(data_update& update);

}  // namespace pdl::model
