#include "shared/cli/publish_args.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "shared/model/fetcher_config.hpp"
#include "shared/model/json_text.hpp"

namespace pdl::cli {
namespace {

constexpr std::size_t max_flag_bytes = 16 * 1024 * 1024;

std::string upper(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

model::data_source_entry single_entry(const publish_flags& f) {
  model::data_source_entry e;
  e.url = f.src_url.value_or("");
  if (!f.topics.empty()) {
    e.topics = f.topics;
  }
  e.dst_path = f.dst_path;
  const auto method = upper(f.save_method);
  if (method == "PUT") {
    e.method = model::save_method::put;
  } else if (method == "PATCH") {
    e.method = model::save_method::patch;
  } else {
    throw model::invalid_input("--save-method", "'" + f.save_method + "' is not PUT or PATCH");
  }
  if (f.data_json) {
    e.data_json = parse_flag_json("--data", *f.data_json).dump();
  }
  auto config = parse_flag_json("--src-config", f.src_config_json.value_or("{}"));
  if (!config.is_object()) {
    throw model::invalid_input("--src-config", "expected a JSON object");
  }
  e.config_json = config.dump();
  if (f.fetched_by == "server") {
    e.fetched_by = model::fetched_by::server;
  } else if (f.fetched_by == "agent") {
    e.fetched_by = model::fetched_by::agent;
  } else if (!f.fetched_by.empty()) {
    throw model::invalid_input("--fetched-by", "'" + f.fetched_by + "' is not agent or server");
  }
  try {
    (void)model::parse_fetcher_config(e.config_json);
  } catch (const model::invalid_input& err) {
    throw model::invalid_input("--src-config", err.what());
  }
  return e;
}

}  // namespace

nlohmann::json parse_flag_json(std::string_view flag, std::string_view text) {
  if (text.size() > max_flag_bytes) {
    throw model::invalid_input(std::string(flag), "larger than 16 MiB");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw model::invalid_input(std::string(flag), "invalid JSON: " + model::parse_error_text(e));
  }
}

model::data_update build_data_update(const publish_flags& flags) {
  model::data_update update;
  update.reason = flags.reason;
  if (flags.src_url || flags.data_json) {
    update.entries.push_back(single_entry(flags));
  } else if (flags.entries_json) {
    auto list = parse_flag_json("--entries", *flags.entries_json);
    if (!list.is_array()) {
      throw model::invalid_input("--entries", "expected a JSON list of entries");
    }
    if (list.empty()) {
      throw model::invalid_input("--entries", "the list is empty: nothing to publish");
    }
    try {
      update.entries = model::parse_data_source_config(nlohmann::json{{"entries", list}}.dump());
    } catch (const model::invalid_input& e) {
      // The model names "entries[0].x"; the user typed --entries.
      throw model::invalid_input(e.path().empty() ? "--entries" : "--" + e.path(), e.message());
    }
    for (auto& e : update.entries) {
      e.periodic_update_interval.reset();  // not part of a DataUpdate entry
    }
  } else {
    throw model::invalid_input("", "nothing to publish: give --src-url (or --data) or --entries");
  }
  model::validate(update);
  return update;
}

double parse_ttl(const std::vector<std::string>& values) {
  if (values.empty() || values.size() > 2) {
    throw model::invalid_input("--ttl", "expected N or N UNIT (e.g. 3600, or 365 days)");
  }
  const auto& n = values[0];
  char* end = nullptr;
  const double count = std::strtod(n.c_str(), &end);
  if (n.empty() || end != n.c_str() + n.size() || !std::isfinite(count) || count <= 0) {
    throw model::invalid_input("--ttl", "'" + n + "' is not a positive number");
  }
  double unit = 1;
  if (values.size() == 2) {
    auto u = lower(values[1]);
    if (!u.empty() && u.back() == 's') {
      u.pop_back();
    }
    if (u == "second") {
      unit = 1;
    } else if (u == "minute") {
      unit = 60;
    } else if (u == "hour") {
      unit = 3600;
    } else if (u == "day") {
      unit = 86400;
    } else if (u == "week") {
      unit = 7 * 86400;
    } else {
      throw model::invalid_input("--ttl", "'" + values[1] +
                                              "' is not a unit (seconds, minutes, hours, days, "
                                              "weeks)");
    }
  }
  return count * unit;
}

std::chrono::milliseconds parse_wait(const std::string& value) {
  if (value.empty()) {
    return std::chrono::seconds(30);
  }
  char* end = nullptr;
  const double seconds = std::strtod(value.c_str(), &end);
  if (end != value.c_str() + value.size() || !std::isfinite(seconds) || seconds <= 0 ||
      seconds > 86400) {
    throw model::invalid_input("--wait", "expected a number of seconds, more than 0 and at most "
                                         "86400");
  }
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000)));
}

nlohmann::json parse_claims(std::string_view text) {
  auto claims = parse_flag_json("--claims", text);
  if (!claims.is_object()) {
    throw model::invalid_input("--claims", "expected a JSON object");
  }
  return claims;
}

}  // namespace pdl::cli
