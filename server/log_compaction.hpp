#pragma once
// Compaction by key: which logged updates are still needed to rebuild the current state.
//
// Key = (topic, normalised dst_path), per entry. An entry is superseded for a topic when a later
// PUT on that topic writes the same path: the PUT replaces everything the entry wrote. One
// exception keeps replay exact: when a PATCH on an ancestor path (any topic) comes between the
// entry and that PUT, the entry stays, because the PATCH may read or move what it wrote (OPA
// applies a patch atomically: one failing operation would drop the PATCH's other effects).
// An update is needed while one of its entries is needed on one of its topics. Replaying the
// needed updates in seq order, from any starting state the agent had reached, gives the same
// data as replaying all of them: so the last PUT per key and the PATCHes after it survive.
#include <string>
#include <vector>

namespace pdl::server {

/** What compaction knows of one entry. */
struct entry_key {
  std::vector<std::string> topics;  // expanded
  std::string path;                 // model::normalize_dst_path ("" = root)
  bool put = true;                  // PUT (false: PATCH)
};

/** @param updates each update's entries, in seq order. @return needed[i] for each update. */
std::vector<bool> needed_updates(const std::vector<const std::vector<entry_key>*>& updates);

/** Strict ancestors of a normalised path: "/a/b/c" -> {"", "/a", "/a/b"}; "" -> {}. */
std::vector<std::string> strict_ancestors(const std::string& normalized);

}  // namespace pdl::server
