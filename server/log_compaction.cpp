#include "server/log_compaction.hpp"

#include <cstdint>
#include <map>
#include <unordered_map>

namespace pdl::server {

std::vector<std::string> strict_ancestors(const std::string& normalized) {
  std::vector<std::string> out;
  if (normalized.empty()) {
    return out;
  }
  out.emplace_back();
  for (std::size_t at = normalized.find('/', 1); at != std::string::npos;
       at = normalized.find('/', at + 1)) {
    out.push_back(normalized.substr(0, at));
  }
  return out;
}

std::vector<bool> needed_updates(const std::vector<const std::vector<entry_key>*>& updates) {
  std::vector<bool> needed(updates.size(), false);
  std::vector<std::uint64_t> base(updates.size() + 1, 0);
  for (std::size_t i = 0; i < updates.size(); ++i) {
    base[i + 1] = base[i] + updates[i]->size();
  }
  // Walking backwards, these hold the position (entry ordinal) of the nearest later PUT per key
  // and of the nearest later PATCH per path.
  std::map<std::pair<std::string, std::string>, std::uint64_t> next_put;
  std::unordered_map<std::string, std::uint64_t> next_patch;
  auto patch_between = [&](const std::string& path, std::uint64_t before) {
    for (const auto& a : strict_ancestors(path)) {
      auto it = next_patch.find(a);
      if (it != next_patch.end() && it->second < before) {
        return true;
      }
    }
    return false;
  };
  for (std::size_t i = updates.size(); i-- > 0;) {
    const auto& entries = *updates[i];
    for (std::size_t j = entries.size(); j-- > 0;) {
      const entry_key& e = entries[j];
      std::uint64_t pos = base[i] + j;
      for (const auto& t : e.topics) {
        auto it = next_put.find({t, e.path});
        if (it == next_put.end() || patch_between(e.path, it->second)) {
          needed[i] = true;
        }
      }
      if (e.put) {
        for (const auto& t : e.topics) {
          next_put[{t, e.path}] = pos;
        }
      } else {
        next_patch[e.path] = pos;
      }
    }
  }
  return needed;
}

}  // namespace pdl::server
