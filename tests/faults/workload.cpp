#include "tests/faults/workload.hpp"

#include <cctype>

namespace pdl::test::faults {

using nlohmann::json;

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

workload::workload(std::uint64_t seed, std::string run_tag, std::string echo_base)
    : rng_(seed ^ 0x9e3779b97f4a7c15ull), tag_(std::move(run_tag)), echo_base_(std::move(echo_base)) {}

json workload::put_value(std::uint64_t v, const std::string& path) {
  json value = {{"v", v}, {"k" + std::to_string(rng_() % 4), v}};
  // Sometimes nest children that other paths name (/a carries b and b/c, ...), so a PUT on an
  // ancestor replaces what writes on the descendants did.
  if (rng_() % 3 == 0) {
    for (const auto& other : workload_paths) {
      if (other.size() > path.size() && other.compare(0, path.size(), path) == 0 &&
          other[path.size()] == '/' && rng_() % 2 == 0) {
        json* at = &value;
        std::string rest = other.substr(path.size() + 1);
        std::size_t pos = 0;
        while (pos != std::string::npos) {
          auto slash = rest.find('/', pos);
          std::string key = rest.substr(pos, slash == std::string::npos ? slash : slash - pos);
          at = &(*at)[key];
          if (!at->is_object()) *at = {{"v", v}};
          pos = slash == std::string::npos ? slash : slash + 1;
        }
      }
    }
  }
  return value;
}

json workload::patch_ops(std::uint64_t v) {
  // Always stamp v; then a few adds/removes/replaces. A remove of a key that may be absent (or a
  // replace of one) makes the whole PATCH fail atomically in some states: the expected state
  // models that too, and an agent that replays its backup differently will diverge.
  json ops = json::array({{{"op", "add"}, {"path", "/v"}, {"value", v}}});
  int extra = static_cast<int>(rng_() % 3);
  for (int i = 0; i < extra; ++i) {
    std::string key = "/k" + std::to_string(rng_() % 4);
    switch (rng_() % 5) {
      case 0:
        ops.push_back({{"op", "remove"}, {"path", key}});
        break;
      case 1:
        ops.push_back({{"op", "replace"}, {"path", key}, {"value", v}});
        break;
      case 2:  // remove a child subtree another path writes
        ops.push_back({{"op", "remove"}, {"path", rng_() % 2 ? "/b" : "/y"}});
        break;
      default:
        ops.push_back({{"op", "add"}, {"path", key}, {"value", {{"v", v}}}});
    }
  }
  return ops;
}

json workload::entry(std::uint64_t v) {
  const std::string& path = workload_paths[rng_() % workload_paths.size()];
  const std::string& topic = workload_topics[rng_() % workload_topics.size()];
  bool put = rng_() % 5 < 3;
  json data = put ? put_value(v, path) : patch_ops(v);
  json e = {{"config", json::object()},
            {"topics", json::array({topic})},
            {"dst_path", path},
            {"save_method", put ? "PUT" : "PATCH"}};
  if (rng_() % 2 == 0) {
    e["url"] = "";
    e["data"] = std::move(data);
  } else {
    e["url"] = echo_base_ + "?json=" + url_encode(data.dump());
    e["data"] = nullptr;
  }
  return e;
}

planned_update workload::next() {
  planned_update u;
  u.index = ++index_;
  u.id = tag_ + "-" + std::to_string(u.index);
  json entries = json::array({entry(u.index)});
  if (rng_() % 6 == 0) entries.push_back(entry(u.index));
  if (rng_() % 60 == 0) {
    // Invalid: inline PATCH data that is not a list of operations. Refused with 422.
    entries.push_back({{"url", ""},
                       {"topics", json::array({workload_topics[rng_() % 6]})},
                       {"dst_path", "/x"},
                       {"save_method", "PATCH"},
                       {"data", {{"v", u.index}}}});
    u.valid = false;
  }
  u.body = {{"id", u.id}, {"entries", std::move(entries)}, {"reason", "fault suite"}};
  return u;
}

}  // namespace pdl::test::faults
