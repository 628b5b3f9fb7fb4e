#pragma once
// A tiny stand-in for the policy engine's data tree, for checking that a replay (full or
// compacted) ends in the same state: PUT replaces the value at dst_path (creating parents);
// PATCH applies its JSON-Patch operations relative to dst_path, atomically (one failing
// operation leaves the tree as it was, as OPA does).
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shared/model/data_update.hpp"
#include "shared/model/paths.hpp"

namespace pdl::server::testing {

inline void apply_entry(nlohmann::json& root, const model::data_source_entry& e) {
  using nlohmann::json;
  std::string path = model::normalize_dst_path(e.dst_path);
  json data = json::parse(e.data_json.value_or("null"));
  json next = root;
  try {
    if (e.method == model::save_method::put) {
      if (path.empty()) {
        next = data;
      } else {
        json::json_pointer target(path);
        for (auto p = target.parent_pointer(); !p.empty(); p = p.parent_pointer()) {
          if (next.contains(p) && !next[p].is_object()) {
            return;  // a parent is not an object
          }
        }
        if (!next.is_object()) {
          return;
        }
        next[target] = data;
      }
    } else {
      // Object members only (what the tests generate): add sets, replace and remove need it.
      for (const auto& op : data) {
        json::json_pointer target(path + op["path"].get<std::string>());
        json::json_pointer parent = target.parent_pointer();
        if (!next.contains(parent) || !next[parent].is_object()) {
          return;
        }
        std::string name = op["op"];
        if (name != "add" && !next.contains(target)) {
          return;
        }
        if (name == "remove") {
          next[parent].erase(target.back());
        } else {
          next[target] = op["value"];
        }
      }
    }
  } catch (const json::exception&) {
    return;  // refused: nothing changes
  }
  root = std::move(next);
}

/** Applies the entries of @p u that an agent subscribed to @p topics receives. */
inline void apply_update(nlohmann::json& root, const model::data_update& u,
                         const std::set<std::string>& topics) {
  for (const auto& e : u.entries) {
    for (const auto& t : e.topics) {
      if (topics.count(t) != 0) {
        apply_entry(root, e);
        break;
      }
    }
  }
}

}  // namespace pdl::server::testing
