#include "shared/config/env_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "shared/config/yaml_section.hpp"
#include "shared/http/url.hpp"

namespace pdl::config::detail {
namespace {

std::string shown(const std::string& v) {
  constexpr std::size_t max_shown = 64;
  return v.size() <= max_shown ? v : v.substr(0, max_shown) + "...";
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) {
    return {};
  }
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    if (comma == std::string::npos) {
      comma = value.size();
    }
    auto item = trim(value.substr(start, comma - start));
    if (!item.empty()) {
      out.push_back(std::move(item));
    }
    start = comma + 1;
  }
  return out;
}

std::optional<std::string> normalize_log_level(const std::string& level) {
  auto l = to_lower(trim(level));
  if (l == "warning") {
    return "warn";
  }
  if (l == "success") {  // loguru's level between info and warning
    return "info";
  }
  for (const char* known : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (l == known) {
      return l;
    }
  }
  return std::nullopt;
}

bool is_http_url(const std::string& url) { return !http_url_problem(url); }

std::optional<std::string> http_url_problem(const std::string& url) {
  std::string why;
  if (parsed_url::parse(url, {"http", "https"}, why)) {
    return std::nullopt;
  }
  return "'" + redact_url(url) + "' is not an http(s) URL: " + why;
}

env_reader::env_reader(const env_map& env, std::vector<problem>& problems)
    : env_(&env), problems_(&problems) {}

const std::string* env_reader::get(const std::string& name) const {
  asked_.insert(name);
  auto it = env_->find(name);
  if (it == env_->end() || it->second.empty()) {
    return nullptr;
  }
  return &it->second;
}

std::vector<std::string> env_reader::unread_opal_variables() const {
  std::vector<std::string> out;
  for (const auto& [name, value] : *env_) {
    if (name.rfind("OPAL_", 0) == 0 && !value.empty() && asked_.count(name) == 0) {
      out.push_back(name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void env_reader::add_problem(const std::string& name, std::string message) const {
  problems_->push_back({"env " + name, std::move(message)});
}

void env_reader::read(const std::string& name, std::string& out) const {
  if (auto v = get(name)) {
    out = *v;
  }
}

void env_reader::read(const std::string& name, secret& out) const {
  if (auto v = get(name)) {
    out = secret(*v);
  }
}

void env_reader::read(const std::string& name, bool& out) const {
  auto v = get(name);
  if (!v) {
    return;
  }
  auto l = to_lower(trim(*v));
  if (l == "true" || l == "1") {
    out = true;
  } else if (l == "false" || l == "0") {
    out = false;
  } else {
    add_problem(name, "'" + shown(*v) + "' is not a boolean (true, false, 1 or 0)");
  }
}

void env_reader::read(const std::string& name, std::vector<std::string>& out) const {
  if (auto v = get(name)) {
    auto items = split_list(*v);
    if (items.empty()) {
      add_problem(name, "the list is empty");
    } else {
      out = std::move(items);
    }
  }
}

std::optional<std::int64_t> env_reader::read_int(const std::string& name, std::int64_t min,
                                                 std::int64_t max,
                                                 const std::string& what) const {
  auto v = get(name);
  if (!v) {
    return std::nullopt;
  }
  auto t = trim(*v);
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size() || value < min ||
      value > max) {
    add_problem(name, "'" + shown(*v) + "' is not " + what + " (" + std::to_string(min) + ".." +
                          std::to_string(max) + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::milliseconds> env_reader::read_seconds(const std::string& name,
                                                                  bool allow_zero) const {
  auto v = get(name);
  if (!v) {
    return std::nullopt;
  }
  auto t = trim(*v);
  char* end = nullptr;
  double seconds = t.empty() ? -1 : std::strtod(t.c_str(), &end);
  constexpr double max_seconds = 7 * 24 * 3600.0;
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(seconds) || seconds < 0 ||
      (seconds == 0 && !allow_zero) || seconds > max_seconds) {
    add_problem(name, "'" + shown(*v) + "' is not a number of seconds (" +
                          (allow_zero ? ">= 0" : "> 0") + ", at most a week)");
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000)));
}

}  // namespace pdl::config::detail

namespace pdl::config::detail {

void read_log_settings(yaml_section& log, std::string& level, std::string& format) {
  std::string l;
  log.read("level", l);
  if (!l.empty()) {
    if (auto n = normalize_log_level(l)) {
      level = *n;
    } else {
      log.add_problem("level", "'" + l + "' is not a level (" + log_levels_text + ")");
    }
  }
  std::string f;
  log.read("format", f);
  if (!f.empty()) {
    if (f == "text" || f == "json") {
      format = f;
    } else {
      log.add_problem("format", "'" + f + "' is not text or json");
    }
  }
}

void read_log_settings(const env_reader& env, std::string& level, std::string& format) {
  if (auto v = env.get("OPAL_LOG_LEVEL")) {
    if (auto n = normalize_log_level(*v)) {
      level = *n;
    } else {
      env.add_problem("OPAL_LOG_LEVEL",
                      "'" + *v + "' is not a level (" + log_levels_text + ")");
    }
  }
  if (env.get("OPAL_LOG_SERIALIZE")) {
    bool json = format == "json";
    env.read("OPAL_LOG_SERIALIZE", json);
    format = json ? "json" : "text";
  }
}

}  // namespace pdl::config::detail
