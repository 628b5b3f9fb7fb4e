// Parsing and validation of DataUpdate / DataSourceConfig documents.
//
// simdjson ondemand walks the envelope; every value it only skips or keeps raw (inline data,
// config, callback, unknown fields) is checked by json_validator, because ondemand does not
// validate what it skips. So each byte is validated once and no DOM of the payload is built.
#include "shared/model/data_update.hpp"

#include <cctype>
#include <cmath>

#include <fmt/format.h>
#include <simdjson.h>

#include "shared/http/url.hpp"
#include "shared/model/fetcher_config.hpp"
#include "shared/model/json_validator.hpp"
#include "shared/model/paths.hpp"
#include "shared/model/utf8.hpp"

namespace pdl::model {
namespace {

namespace sj = simdjson::ondemand;

constexpr std::size_t max_document_bytes = 64 * 1024 * 1024;
// Levels the envelope itself uses above inline data: root, entries, entry.
constexpr std::size_t envelope_depth = 3;
constexpr std::size_t max_echo = 64;  // longest user text echoed back in a message

std::string_view type_name(sj::json_type t) {
  switch (t) {
    case sj::json_type::array: return "array";
    case sj::json_type::object: return "object";
    case sj::json_type::number: return "number";
    case sj::json_type::string: return "string";
    case sj::json_type::boolean: return "boolean";
    case sj::json_type::null: return "null";
  }
  return "unknown";
}

std::string echo(std::string_view s) {
  if (s.size() <= max_echo) {
    return std::string(s);
  }
  return truncate_utf8(s, max_echo) + "...";
}

[[noreturn]] void malformed(const std::string& path, simdjson::error_code e) {
  throw invalid_input(path, fmt::format("malformed JSON: {}", simdjson::error_message(e)));
}

[[noreturn]] void wrong_type(const std::string& path, std::string_view expected,
                             sj::json_type got) {
  throw invalid_input(path, fmt::format("expected {}, got {}", expected, type_name(got)));
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string index(const std::string& path, std::size_t i) {
  return fmt::format("{}[{}]", path, i);
}

sj::json_type type_of(sj::value& v, const std::string& path) {
  sj::json_type t{};
  if (auto e = v.type().get(t)) {
    malformed(path, e);
  }
  return t;
}

/** Consumes a value known to start like null, checking it really is the literal. */
void consume_null(sj::value& v, const std::string& path) {
  bool is_null = false;
  if (auto e = v.is_null().get(is_null)) {
    malformed(path, e);
  }
  if (!is_null) {
    throw invalid_input(path, "malformed JSON: invalid literal (expected null)");
  }
}

std::string read_string(sj::value& v, const std::string& path, const parse_limits& limits) {
  const auto t = type_of(v, path);
  if (t != sj::json_type::string) {
    wrong_type(path, "a string", t);
  }
  std::string_view s;
  if (auto e = v.get_string().get(s)) {
    malformed(path, e);
  }
  if (s.size() > limits.max_string_bytes) {
    throw invalid_input(path, fmt::format("longer than {} bytes", limits.max_string_bytes));
  }
  return std::string(s);
}

std::optional<std::string> read_optional_string(sj::value& v, const std::string& path,
                                                const parse_limits& limits) {
  if (type_of(v, path) == sj::json_type::null) {
    consume_null(v, path);
    return std::nullopt;
  }
  return read_string(v, path, limits);
}

/** The exact text of a value, checked by json_validator (ondemand only skips it). */
std::string_view raw_value(sj::value& v, const std::string& path, std::size_t max_depth,
                           std::optional<json_type>* root = nullptr) {
  std::string_view raw;
  if (auto e = simdjson::to_json_string(v).get(raw)) {
    malformed(path, e);
  }
  json_validator checker(max_depth);
  if (!checker.feed(raw) || !checker.finish()) {
    throw invalid_input(path,
                        fmt::format("malformed JSON: {} (counted from the value's start)",
                                    checker.error()));
  }
  if (root != nullptr) {
    *root = checker.root_type();
  }
  return raw;
}

sj::object get_object(sj::value& v, const std::string& path) {
  const auto t = type_of(v, path);
  if (t != sj::json_type::object) {
    wrong_type(path, "an object", t);
  }
  sj::object o;
  if (auto e = v.get_object().get(o)) {
    malformed(path, e);
  }
  return o;
}

sj::array get_array(sj::value& v, const std::string& path, std::string_view expected) {
  const auto t = type_of(v, path);
  if (t != sj::json_type::array) {
    wrong_type(path, expected, t);
  }
  sj::array a;
  if (auto e = v.get_array().get(a)) {
    malformed(path, e);
  }
  return a;
}

/** Calls fn(key, value) for each member, in document order. */
template <class Fn>
void for_each_field(sj::object& obj, const std::string& path, Fn&& fn) {
  for (auto field_result : obj) {
    sj::field field;
    if (auto e = std::move(field_result).get(field)) {
      malformed(path, e);
    }
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) {
      malformed(path, e);
    }
    // The key view lives in the parser's string buffer, which the value's strings reuse.
    const std::string key_copy(key);
    sj::value value = field.value();
    fn(key_copy, value);
  }
}

template <class Fn>
void for_each_element(sj::array& arr, const std::string& path, Fn&& fn) {
  std::size_t i = 0;
  for (auto element_result : arr) {
    sj::value element;
    if (auto e = std::move(element_result).get(element)) {
      malformed(index(path, i), e);
    }
    fn(i, element);
    ++i;
  }
}

save_method parse_save_method(std::string_view s, const std::string& path) {
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) {
        return false;
      }
    }
    return true;
  };
  if (iequals(s, "PUT")) {
    return save_method::put;
  }
  if (iequals(s, "PATCH")) {
    return save_method::patch;
  }
  throw invalid_input(path,
                      fmt::format("unknown save_method '{}' (expected PUT or PATCH)", echo(s)));
}

blob_ref read_blob(sj::value& v, const std::string& path, const parse_limits& limits) {
  sj::object obj = get_object(v, path);
  blob_ref blob;
  bool has_hash = false;
  bool has_size = false;
  for_each_field(obj, path, [&](const std::string& key, sj::value& value) {
    const std::string field_path = join(path, key);
    if (key == "sha256") {
      blob.sha256 = read_string(value, field_path, limits);
      if (!is_sha256_hex(blob.sha256)) {
        throw invalid_input(field_path, "expected 64 lower-case hexadecimal digits");
      }
      has_hash = true;
    } else if (key == "size") {
      const auto t = type_of(value, field_path);
      if (t != sj::json_type::number || value.get_uint64().get(blob.size)) {
        throw invalid_input(field_path, "expected a non-negative integer");
      }
      has_size = true;
    } else {
      raw_value(value, field_path, limits.max_depth);
    }
  });
  if (!has_hash || !has_size) {
    throw invalid_input(join(path, has_hash ? "size" : "sha256"), "required field is missing");
  }
  return blob;
}

data_source_entry read_entry(sj::value& v, const std::string& path, const parse_limits& limits,
                             bool with_interval) {
  sj::object obj = get_object(v, path);
  data_source_entry entry;
  bool has_url = false;
  for_each_field(obj, path, [&](const std::string& key, sj::value& value) {
    const std::string field_path = join(path, key);
    if (key == "url") {
      entry.url = read_string(value, field_path, limits);
      has_url = true;
    } else if (key == "config") {
      if (type_of(value, field_path) == sj::json_type::null) {
        consume_null(value, field_path);
        entry.config_json.reset();
      } else {
        const auto t = type_of(value, field_path);
        if (t != sj::json_type::object) {
          wrong_type(field_path, "an object", t);
        }
        entry.config_json = std::string(raw_value(value, field_path, limits.max_depth));
      }
    } else if (key == "topics") {
      sj::array arr = get_array(value, field_path, "an array of strings");
      entry.topics.clear();
      for_each_element(arr, field_path, [&](std::size_t i, sj::value& element) {
        if (entry.topics.size() >= limits.max_topics_per_entry) {
          throw invalid_input(field_path, fmt::format("more than {} topics",
                                                      limits.max_topics_per_entry));
        }
        entry.topics.push_back(read_string(element, index(field_path, i), limits));
      });
    } else if (key == "dst_path") {
      entry.dst_path = read_string(value, field_path, limits);
    } else if (key == "save_method") {
      entry.method = parse_save_method(read_string(value, field_path, limits), field_path);
    } else if (key == "data") {
      if (type_of(value, field_path) == sj::json_type::null) {
        consume_null(value, field_path);
        entry.data_json.reset();
      } else {
        entry.data_json = std::string(raw_value(value, field_path, limits.max_depth));
      }
    } else if (key == "fetched_by") {
      if (type_of(value, field_path) == sj::json_type::null) {
        consume_null(value, field_path);
        entry.fetched_by.reset();
        return;
      }
      const std::string who = read_string(value, field_path, limits);
      if (who == "server") {
        entry.fetched_by = fetched_by::server;
      } else if (who == "agent") {
        entry.fetched_by = fetched_by::agent;
      } else {
        throw invalid_input(field_path,
                            fmt::format("unknown value '{}' (expected server or agent)", echo(who)));
      }
    } else if (key == "blob") {
      if (type_of(value, field_path) == sj::json_type::null) {
        consume_null(value, field_path);
        entry.blob.reset();
        return;
      }
      entry.blob = read_blob(value, field_path, limits);
    } else if (key == "periodic_update_interval" && with_interval) {
      const auto t = type_of(value, field_path);
      if (t == sj::json_type::null) {
        consume_null(value, field_path);
        entry.periodic_update_interval.reset();
        return;
      }
      if (t != sj::json_type::number) {
        wrong_type(field_path, "a number of seconds", t);
      }
      double seconds = 0;
      if (auto e = value.get_double().get(seconds)) {
        malformed(field_path, e);
      }
      if (!std::isfinite(seconds) || seconds <= 0) {
        throw invalid_input(field_path, "must be a positive number of seconds");
      }
      entry.periodic_update_interval = seconds;
    } else {
      raw_value(value, field_path, limits.max_depth);  // ignored like pydantic, but well-formed
    }
  });
  if (!has_url) {
    throw invalid_input(join(path, "url"), "required field is missing");
  }
  return entry;
}

std::vector<data_source_entry> read_entries(sj::value& v, const std::string& path,
                                            const parse_limits& limits, bool with_interval) {
  sj::array arr = get_array(v, path, "an array of entries");
  std::vector<data_source_entry> entries;
  for_each_element(arr, path, [&](std::size_t i, sj::value& element) {
    if (entries.size() >= limits.max_entries) {
      throw invalid_input(path, fmt::format("more than {} entries", limits.max_entries));
    }
    entries.push_back(read_entry(element, index(path, i), limits, with_interval));
  });
  return entries;
}

/** Holds the padded copy and the parser for one document; fn(root_object) reads it. */
template <class Fn>
void parse_root_object(std::string_view json, const parse_limits& limits, Fn&& fn) {
  if (json.size() > max_document_bytes) {
    throw invalid_input("", fmt::format("document larger than {} MiB",
                                        max_document_bytes / (1024 * 1024)));
  }
  simdjson::padded_string padded(json);
  sj::parser parser;
  if (auto e = parser.allocate(padded.size(), limits.max_depth + envelope_depth + 1)) {
    throw invalid_input("", fmt::format("cannot parse: {}", simdjson::error_message(e)));
  }
  sj::document doc;
  if (auto e = parser.iterate(padded).get(doc)) {
    malformed("", e);
  }
  sj::json_type t{};
  if (auto e = doc.type().get(t)) {
    malformed("", e);
  }
  if (t != sj::json_type::object) {
    wrong_type("", "a JSON object at the top level", t);
  }
  sj::object root;
  if (auto e = doc.get_object().get(root)) {
    malformed("", e);
  }
  fn(root);
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) {
    throw invalid_input("", "malformed JSON: unexpected content after the top-level object");
  }
}

void check_patch_ops(std::string_view data, const std::string& path,
                     const parse_limits& limits);

/** Everything validate() requires of one entry. data_checked: the data text is known to be
 *  well-formed JSON within the depth limit (it came through the parser). */
void check_entry(const data_source_entry& entry, const std::string& path,
                 const parse_limits& limits, bool data_checked) {
  auto check_length = [&](std::string_view value, const std::string& field) {
    if (value.size() > limits.max_string_bytes) {
      throw invalid_input(field, fmt::format("longer than {} bytes", limits.max_string_bytes));
    }
  };
  check_length(entry.url, path + ".url");
  check_length(entry.dst_path, path + ".dst_path");

  if (entry.topics.empty()) {
    throw invalid_input(path + ".topics", "at least one topic is required");
  }
  if (entry.topics.size() > limits.max_topics_per_entry) {
    throw invalid_input(path + ".topics",
                        fmt::format("more than {} topics", limits.max_topics_per_entry));
  }
  for (std::size_t i = 0; i < entry.topics.size(); ++i) {
    const auto topic_path = index(path + ".topics", i);
    if (entry.topics[i].empty()) {
      throw invalid_input(topic_path, "a topic must not be empty");
    }
    check_length(entry.topics[i], topic_path);
  }

  bool at_root = false;
  try {
    at_root = split_dst_path(entry.dst_path).empty();
  } catch (const invalid_input& e) {
    throw invalid_input(path + ".dst_path", e.message());
  }

  if (entry.config_json && !data_checked) {
    // Forwarded raw even when unused (inline data): it must not break the message.
    std::optional<json_type> root;
    const auto error = validate_json(*entry.config_json, &root);
    if (!error.empty() || root != json_type::object) {
      throw invalid_input(path + ".config",
                          error.empty() ? "expected an object" : "malformed JSON: " + error);
    }
  }

  if (entry.data_json) {
    const auto data_path = path + ".data";
    std::optional<json_type> root;
    if (data_checked) {
      const auto first = entry.data_json->find_first_not_of(" \t\r\n");
      const char c = first == std::string::npos ? '\0' : (*entry.data_json)[first];
      root = c == '{' ? json_type::object
           : c == '[' ? json_type::array
           : c == '"' ? json_type::string
           : c == 't' || c == 'f' ? json_type::boolean
           : c == 'n' ? json_type::null
           : json_type::number;
    } else {
      json_validator checker(limits.max_depth);
      if (!checker.feed(*entry.data_json) || !checker.finish()) {
        throw invalid_input(data_path, fmt::format("malformed JSON: {}", checker.error()));
      }
      root = checker.root_type();
    }
    if (entry.method == save_method::patch) {
      if (root != json_type::array) {
        throw invalid_input(data_path, "PATCH data must be a list of JSON-patch operations");
      }
      check_patch_ops(*entry.data_json, data_path, limits);
    } else if (at_root && root != json_type::object) {
      throw invalid_input(data_path,
                          fmt::format("a PUT at the root of the store must be an object (got {})",
                                      to_string(*root)));
    }
    return;
  }

  if (entry.url.empty()) {
    throw invalid_input(path + ".url", "an entry needs inline data or an http(s) url");
  }
  // Echoed without userinfo, query or fragment; the url itself is forwarded as written.
  if (const auto scheme = url_scheme(entry.url); scheme != "http" && scheme != "https") {
    throw invalid_input(path + ".url", fmt::format("'{}' is not an http:// or https:// url",
                                                   echo(redact_url(entry.url))));
  }
  if (std::string why; !parsed_url::parse(entry.url, {"http", "https"}, why)) {
    throw invalid_input(path + ".url", fmt::format("'{}' is not a valid url: {}",
                                                   echo(redact_url(entry.url)), why));
  }
  try {
    parse_fetcher_config(entry.config_json);
  } catch (const invalid_input& e) {
    throw invalid_input(path + "." + e.path(), e.message());
  }
}

void check_patch_ops(std::string_view data, const std::string& path,
                     const parse_limits& limits) {
  simdjson::padded_string padded(data);
  sj::parser parser;
  if (auto e = parser.allocate(padded.size(), limits.max_depth + 1)) {
    throw invalid_input(path, fmt::format("cannot parse: {}", simdjson::error_message(e)));
  }
  sj::document doc;
  if (auto e = parser.iterate(padded).get(doc)) {
    malformed(path, e);
  }
  sj::array ops;
  if (doc.get_array().get(ops) != simdjson::SUCCESS) {
    throw invalid_input(path, "PATCH data must be a list of JSON-patch operations");
  }
  for_each_element(ops, path, [&](std::size_t i, sj::value& op_value) {
    const auto op_path = index(path, i);
    const auto t = type_of(op_value, op_path);
    if (t != sj::json_type::object) {
      wrong_type(op_path, "a JSON-patch operation object", t);
    }
    sj::object op_obj = get_object(op_value, op_path);
    std::optional<std::string> op;
    bool has_path = false;
    for_each_field(op_obj, op_path, [&](const std::string& key, sj::value& value) {
      const auto field_path = join(op_path, key);
      if (key == "op") {
        op = read_string(value, field_path, limits);
      } else if (key == "path") {
        read_string(value, field_path, limits);
        has_path = true;
      }
    });
    if (!op) {
      throw invalid_input(op_path + ".op", "required field is missing");
    }
    if (*op != "add" && *op != "remove" && *op != "replace") {
      throw invalid_input(op_path + ".op",
                          fmt::format("'{}' is not supported: OPA accepts only add, remove and "
                                      "replace",
                                      echo(*op)));
    }
    if (!has_path) {
      throw invalid_input(op_path + ".path", "required field is missing");
    }
  });
}

}  // namespace

data_update parse_data_update(std::string_view json, const parse_limits& limits) {
  data_update update;
  bool has_entries = false;
  parse_root_object(json, limits, [&](sj::object& root) {
    for_each_field(root, "", [&](const std::string& key, sj::value& value) {
      if (key == "id") {
        update.id = read_optional_string(value, key, limits);
      } else if (key == "entries") {
        update.entries = read_entries(value, key, limits, false);
        has_entries = true;
      } else if (key == "reason") {
        update.reason = read_optional_string(value, key, limits);
      } else if (key == "callback") {
        const auto t = type_of(value, key);
        if (t == sj::json_type::null) {
          consume_null(value, key);
          update.callback_json = data_update{}.callback_json;
        } else if (t == sj::json_type::object) {
          update.callback_json = std::string(raw_value(value, key, limits.max_depth));
        } else {
          wrong_type(key, "an object", t);
        }
      } else if (key == "seq") {
        const auto t = type_of(value, key);
        if (t == sj::json_type::null) {
          consume_null(value, key);
          update.seq.reset();
          return;
        }
        if (t != sj::json_type::number) {
          wrong_type(key, "a non-negative integer", t);
        }
        std::uint64_t seq = 0;
        if (value.get_uint64().get(seq)) {
          throw invalid_input(key, "expected a non-negative integer");
        }
        update.seq = seq;
      } else {
        raw_value(value, key, limits.max_depth + envelope_depth);
      }
    });
  });
  if (!has_entries) {
    throw invalid_input("entries", "required field is missing");
  }
  if (update.entries.empty()) {
    throw invalid_input("entries", "at least one entry is required");
  }
  for (std::size_t i = 0; i < update.entries.size(); ++i) {
    check_entry(update.entries[i], index("entries", i), limits, true);
  }
  return update;
}

std::vector<data_source_entry> parse_data_source_config(std::string_view json,
                                                        const parse_limits& limits) {
  std::vector<data_source_entry> entries;
  parse_root_object(json, limits, [&](sj::object& root) {
    for_each_field(root, "", [&](const std::string& key, sj::value& value) {
      if (key == "entries") {
        entries = read_entries(value, key, limits, true);
      } else {
        raw_value(value, key, limits.max_depth + envelope_depth);
      }
    });
  });
  for (std::size_t i = 0; i < entries.size(); ++i) {
    check_entry(entries[i], index("entries", i), limits, true);
  }
  return entries;
}

void validate(const data_update& update, const parse_limits& limits) {
  if (update.entries.empty()) {
    throw invalid_input("entries", "at least one entry is required");
  }
  if (update.entries.size() > limits.max_entries) {
    throw invalid_input("entries", fmt::format("more than {} entries", limits.max_entries));
  }
  for (std::size_t i = 0; i < update.entries.size(); ++i) {
    check_entry(update.entries[i], index("entries", i), limits, false);
  }
  // The callback is forwarded raw: it must at least be one JSON object.
  std::optional<json_type> root;
  const auto error = validate_json(update.callback_json, &root);
  if (!error.empty() || root != json_type::object) {
    throw invalid_input("callback", error.empty() ? "expected an object" : error);
  }
}

}  // namespace pdl::model
