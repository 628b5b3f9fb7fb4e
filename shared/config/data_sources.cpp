#include "shared/config/data_sources.hpp"

#include "shared/model/json_text.hpp"

#include <charconv>
#include <cstdlib>
#include <regex>

#include "shared/config/env_reader.hpp"
#include "shared/model/errors.hpp"

namespace pdl::config::detail {
namespace {

nlohmann::json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  static const std::regex int_re("[-+]?[0-9]+");
  static const std::regex float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, int_re)) {
    std::int64_t v = 0;
    const char* first = s.data() + (s[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
    if (ec == std::errc() && ptr == s.data() + s.size()) {
      return v;
    }
  }
  if (std::regex_match(s, float_re)) {
    return std::strtod(s.c_str(), nullptr);
  }
  return s;
}

}  // namespace


nlohmann::json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto obj = nlohmann::json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) {  // found by fuzz_config: `{[a]: 1}` made as<> throw
          throw model::invalid_input("", "a mapping key must be a plain string, not a "
                                         "list or a mapping");
        }
        obj[it->first.Scalar()] = yaml_to_json(it->second);
      }
      return obj;
    }
    case YAML::NodeType::Sequence: {
      auto arr = nlohmann::json::array();
      for (const auto& item : node) {
        arr.push_back(yaml_to_json(item));
      }
      return arr;
    }
    case YAML::NodeType::Scalar:
      return node.Tag() == "!" ? nlohmann::json(node.Scalar()) : plain_scalar(node.Scalar());
    default:
      return nullptr;
  }
}

data_sources parse_data_sources(const nlohmann::json& doc) {
  if (!doc.is_object()) {
    throw model::invalid_input("", "expected an object with \"config\" or \"external_source_url\"");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "config" && key != "external_source_url") {
      throw model::invalid_input(key, "unknown key (expected config or external_source_url)");
    }
  }
  const auto config = doc.find("config");
  const auto external = doc.find("external_source_url");
  const bool has_config = config != doc.end() && !config->is_null();
  const bool has_external = external != doc.end() && !external->is_null();
  if (has_config == has_external) {
    throw model::invalid_input(
        "", "exactly one of \"config\" and \"external_source_url\" must be set");
  }
  data_sources out;
  if (has_external) {
    if (!external->is_string() || !is_http_url(external->get<std::string>())) {
      throw model::invalid_input("external_source_url", "expected an http(s) URL");
    }
    out.external_source_url = external->get<std::string>();
    return out;
  }
  if (!config->is_object()) {
    throw model::invalid_input("config", "expected an object {\"entries\": [...]}");
  }
  for (const auto& [key, value] : config->items()) {
    if (key != "entries") {
      throw model::invalid_input("config." + key, "unknown key (expected entries)");
    }
  }
  try {
    // Strings that are not UTF-8 (YAML lets them through) are replaced, so dump() cannot throw;
    // the model's parser then reports them like any other bad value.
    out.entries = model::parse_data_source_config(
        config->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } catch (const model::invalid_input& e) {
    throw model::invalid_input(e.path().empty() ? "config" : "config." + e.path(), e.message());
  }
  return out;
}

data_sources parse_data_sources_text(std::string_view text) {
  if (text.size() > max_data_sources_bytes) {
    throw model::invalid_input("", "larger than " + std::to_string(max_data_sources_bytes) +
                                       " bytes");
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw model::invalid_input("", "invalid JSON: " + model::parse_error_text(e));
  }
  return parse_data_sources(doc);
}

}  // namespace pdl::config::detail
