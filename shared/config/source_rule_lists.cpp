#include "shared/config/source_rule_lists.hpp"

#include "shared/config/env_reader.hpp"
#include "shared/config/yaml_section.hpp"
#include "shared/http/source_rules.hpp"

namespace pdl::config::detail {

void read_rule_list(yaml_section& section, const std::string& key, std::vector<std::string>& out) {
  std::vector<std::string> entries;
  bool present = false;
  if (auto node = section.raw(key)) {
    present = !node->IsNull();
  }
  if (!present) {
    return;
  }
  std::vector<std::string> before = out;
  section.read(key, entries);
  bool ok = true;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string why;
    if (!http_client::source_rule::parse(entries[i], why)) {
      section.add_problem(key + "[" + std::to_string(i) + "]", why);
      ok = false;
    }
  }
  out = ok ? std::move(entries) : std::move(before);
}

void read_rule_list(const env_reader& env, const std::string& name, std::vector<std::string>& out) {
  const std::string* value = env.get(name);
  if (value == nullptr) {
    return;
  }
  std::vector<std::string> entries = split_list(*value);
  bool ok = true;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string why;
    if (!http_client::source_rule::parse(entries[i], why)) {
      env.add_problem(name, "item " + std::to_string(i) + ": " + why);
      ok = false;
    }
  }
  if (ok) {
    out = std::move(entries);
  }
}

}  // namespace pdl::config::detail
