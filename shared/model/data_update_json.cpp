// Serialisation of the DataUpdate model, in OPAL's field order (pydantic's declaration order).
#include <cmath>

#include <fmt/format.h>

#include "shared/model/data_update.hpp"
#include "shared/model/json_text.hpp"

namespace pdl::model {
namespace {

void append_optional_string(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    append_json_string(out, *s);
  } else {
    out += "null";
  }
}

void append_raw(std::string& out, const std::optional<std::string>& raw) {
  out += raw ? std::string_view(*raw) : std::string_view("null");
}

void append_entry(std::string& out, const data_source_entry& entry, bool with_interval) {
  out += R"({"url":)";
  append_json_string(out, entry.url);
  out += R"(,"config":)";
  append_raw(out, entry.config_json);
  out += R"(,"topics":[)";
  for (std::size_t i = 0; i < entry.topics.size(); ++i) {
    if (i != 0) {
      out += ',';
    }
    append_json_string(out, entry.topics[i]);
  }
  out += R"(],"dst_path":)";
  append_json_string(out, entry.dst_path);
  out += R"(,"save_method":")";
  out += to_string(entry.method);
  out += R"(","data":)";
  append_raw(out, entry.data_json);
  if (entry.fetched_by) {
    out += R"(,"fetched_by":")";
    out += to_string(*entry.fetched_by);
    out += '"';
  }
  if (entry.blob) {
    out += R"(,"blob":{"sha256":)";
    append_json_string(out, entry.blob->sha256);
    out += R"(,"size":)";
    out += std::to_string(entry.blob->size);
    out += '}';
  }
  if (with_interval) {
    out += R"(,"periodic_update_interval":)";
    const auto& interval = entry.periodic_update_interval;
    if (interval && std::isfinite(*interval)) {
      out += fmt::format("{}", *interval);  // shortest text that reads back as the same double
    } else {
      out += "null";
    }
  }
  out += '}';
}

}  // namespace

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string_view to_string(fetched_by f) {
  return f == fetched_by::server ? "server" : "agent";
}

std::string_view to_string(save_method m) {
  return m == save_method::patch ? "PATCH" : "PUT";
}

std::string to_json(const data_source_entry& entry) {
  std::string out;
  append_entry(out, entry, false);
  return out;
}

std::string to_json(const data_update& update) {
  std::size_t size = 128;
  for (const auto& e : update.entries) {
    size += 128 + e.url.size() + e.dst_path.size() + (e.data_json ? e.data_json->size() : 0) +
            (e.config_json ? e.config_json->size() : 0);
  }
  std::string out;
  out.reserve(size);
  out += R"({"id":)";
  append_optional_string(out, update.id);
  out += R"(,"entries":[)";
  for (std::size_t i = 0; i < update.entries.size(); ++i) {
    if (i != 0) {
      out += ',';
    }
    append_entry(out, update.entries[i], false);
  }
  out += R"(],"reason":)";
  append_optional_string(out, update.reason);
  out += R"(,"callback":)";
  out += update.callback_json;
  if (update.seq) {
    out += R"(,"seq":)";
    out += std::to_string(*update.seq);
  }
  out += '}';
  return out;
}

std::string data_source_config_to_json(const std::vector<data_source_entry>& entries) {
  std::string out = R"({"entries":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i != 0) {
      out += ',';
    }
    append_entry(out, entries[i], true);
  }
  out += "]}";
  return out;
}

}  // namespace pdl::model
