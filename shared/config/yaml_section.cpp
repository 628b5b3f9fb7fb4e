#include "shared/config/yaml_section.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

namespace pdl::config::detail {
namespace {

// Plain scalars are untyped in YAML; quoted ones carry the non-specific tag "!".
bool is_quoted(const YAML::Node& n) { return n.Tag() == "!"; }

std::string shown(const std::string& v) {
  constexpr std::size_t max_shown = 64;
  return v.size() <= max_shown ? v : v.substr(0, max_shown) + "...";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    out += out.empty() ? s : ", " + s;
  }
  return out;
}

}  // namespace

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return is_quoted(n) ? "a string" : "'" + shown(n.Scalar()) + "'";
    default:
      return "nothing";
  }
}

yaml_section::yaml_section(YAML::Node node, std::string path, std::vector<problem>& problems)
    : node_(std::move(node)), path_(std::move(path)), problems_(&problems) {
  is_map_ = node_.IsMap();
  if (!is_map_ && node_.IsDefined() && !node_.IsNull()) {
    problems_->push_back({path_.empty() ? "(top level)" : path_,
                          "expected a mapping, got " + describe(node_)});
  }
}

std::string yaml_section::path_of(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void yaml_section::add_problem(const std::string& key, std::string message) {
  problems_->push_back({path_of(key), std::move(message)});
}

std::optional<YAML::Node> yaml_section::lookup(const std::string& key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
    known_.push_back(key);
  }
  if (!is_map_) {
    return std::nullopt;
  }
  const YAML::Node& map = node_;
  YAML::Node v = map[key];
  if (!v.IsDefined()) {
    return std::nullopt;
  }
  return v;
}

yaml_section yaml_section::section(const std::string& key) {
  auto n = lookup(key);
  return yaml_section(n ? *n : YAML::Node(), path_of(key), *problems_);
}

std::optional<YAML::Node> yaml_section::raw(const std::string& key) { return lookup(key); }

std::optional<std::string> yaml_section::scalar(const std::string& key, const YAML::Node& n,
                                                const char* expected, bool quoted_ok) {
  if (!n.IsScalar() || (!quoted_ok && is_quoted(n))) {
    add_problem(key, std::string("expected ") + expected + ", got " +
                         (n.IsScalar() ? std::string("a string") : describe(n)));
    return std::nullopt;
  }
  return n.Scalar();
}

void yaml_section::read(const std::string& key, std::string& out) {
  if (auto n = lookup(key)) {
    if (auto v = scalar(key, *n, "a string", true)) {
      out = *v;
    }
  }
}

void yaml_section::read(const std::string& key, secret& out) {
  if (auto n = lookup(key)) {
    if (!n->IsScalar()) {
      add_problem(key, "expected a string, got " + describe(*n));
    } else {
      out = secret(n->Scalar());
    }
  }
}

void yaml_section::read(const std::string& key, bool& out) {
  auto n = lookup(key);
  if (!n) {
    return;
  }
  auto v = scalar(key, *n, "true or false", false);
  if (!v) {
    return;
  }
  std::string lower = *v;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "true") {
    out = true;
  } else if (lower == "false") {
    out = false;
  } else {
    add_problem(key, "expected true or false, got '" + shown(*v) + "'");
  }
}

void yaml_section::read(const std::string& key, std::vector<std::string>& out) {
  auto n = lookup(key);
  if (!n) {
    return;
  }
  if (n->IsScalar()) {
    out = {n->Scalar()};
    return;
  }
  if (!n->IsSequence()) {
    add_problem(key, "expected a string or a list of strings, got " + describe(*n));
    return;
  }
  std::vector<std::string> items;
  bool ok = true;
  for (std::size_t i = 0; i < n->size(); ++i) {
    const YAML::Node item = (*n)[i];
    if (!item.IsScalar()) {
      problems_->push_back({path_of(key) + "[" + std::to_string(i) + "]",
                            "expected a string, got " + describe(item)});
      ok = false;
    } else {
      items.push_back(item.Scalar());
    }
  }
  if (ok) {
    out = std::move(items);
  }
}

std::optional<std::int64_t> yaml_section::read_int(const std::string& key, std::int64_t min,
                                                   std::int64_t max, const std::string& what) {
  auto n = lookup(key);
  if (!n) {
    return std::nullopt;
  }
  auto v = scalar(key, *n, what.c_str(), false);
  if (!v) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  const char* first = v->data();
  const char* last = v->data() + v->size();
  if (first != last && *first == '+') {
    ++first;
  }
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr != last || first == last) {
    add_problem(key, "expected " + what + ", got '" + shown(*v) + "'");
    return std::nullopt;
  }
  if (value < min || value > max) {
    add_problem(key, "expected " + what + " (" + std::to_string(min) + ".." +
                         std::to_string(max) + "), got " + std::to_string(value));
    return std::nullopt;
  }
  return value;
}

void yaml_section::finish() {
  if (!is_map_) {
    return;
  }
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "(non-scalar key)";
    if (!seen.insert(key).second) {
      add_problem(key, "duplicate key");
      continue;
    }
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
      add_problem(key, "unknown key (expected one of: " + join(known_) + ")");
    }
  }
}

YAML::Node load_yaml_file(const std::string& yaml_path, std::vector<problem>& problems) {
  if (yaml_path.empty()) {
    return YAML::Node();
  }
  try {
    return YAML::LoadFile(yaml_path);
  } catch (const YAML::BadFile&) {
    problems.push_back({yaml_path, "cannot read the file"});
  } catch (const YAML::ParserException& e) {
    problems.push_back({yaml_path, "line " + std::to_string(e.mark.line + 1) + ", column " +
                                       std::to_string(e.mark.column + 1) + ": " + e.msg});
  } catch (const YAML::Exception& e) {
    problems.push_back({yaml_path, e.msg});
  }
  return YAML::Node();
}

}  // namespace pdl::config::detail
