// OPAL's WebSocket RPC framing. simdjson ondemand walks the small envelope; `arguments`,
// `result` and a notify's `data` are kept as raw text (the consumer parses them once).
#include "shared/rpc/rpc.hpp"

#include <array>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace pdl::rpc {
namespace {

namespace sj = simdjson::ondemand;
using model::invalid_input;

constexpr std::size_t max_name_bytes = 256;

[[noreturn]] void malformed(const std::string& path, simdjson::error_code e) {
  throw invalid_input(path, fmt::format("malformed JSON: {}", simdjson::error_message(e)));
}

std::string join(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

sj::json_type type_of(sj::value& v, const std::string& path) {
  sj::json_type t{};
  if (auto e = v.type().get(t)) {
    malformed(path, e);
  }
  return t;
}

/** The raw text of any value, without the whitespace that may follow a scalar token. */
std::string raw_value(sj::value& v, const std::string& path) {
  std::string_view raw;
  switch (type_of(v, path)) {
    case sj::json_type::object: {
      sj::object o;
      if (auto e = v.get_object().get(o)) {
        malformed(path, e);
      }
      if (auto e = o.raw_json().get(raw)) {
        malformed(path, e);
      }
      break;
    }
    case sj::json_type::array: {
      sj::array a;
      if (auto e = v.get_array().get(a)) {
        malformed(path, e);
      }
      if (auto e = a.raw_json().get(raw)) {
        malformed(path, e);
      }
      break;
    }
    default:
      raw = v.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' ||
                              raw.back() == '\t')) {
        raw.remove_suffix(1);
      }
      if (type_of(v, path) == sj::json_type::string) {
        // Checks the escapes of the string token, which raw_json_token does not.
        std::string_view ignored;
        if (auto e = v.get_string().get(ignored)) {
          malformed(path, e);
        }
      }
      break;
  }
  return std::string(raw);
}

bool is_null(sj::value& v, const std::string& path) {
  return type_of(v, path) == sj::json_type::null;
}

/** A string field (or null/absent -> ""), at most max_name_bytes. */
std::string short_string(sj::value& v, const std::string& path, bool nullable) {
  if (nullable && is_null(v, path)) {
    return {};
  }
  std::string_view s;
  if (type_of(v, path) != sj::json_type::string || v.get_string().get(s)) {
    throw invalid_input(path, nullable ? "expected a string or null" : "expected a string");
  }
  if (s.size() > max_name_bytes) {
    throw invalid_input(path, fmt::format("longer than {} bytes", max_name_bytes));
  }
  return std::string(s);
}

/** The string form of a call id: OPAL sends a uuid hex string; numbers are tolerated. */
std::string call_id_of(sj::value& v, const std::string& path) {
  if (type_of(v, path) == sj::json_type::number) {
    std::string id = raw_value(v, path);
    if (id.size() > max_name_bytes) {
      throw invalid_input(path, "too long");
    }
    return id;
  }
  return short_string(v, path, true);
}

sj::object object_of(sj::value& v, const std::string& path) {
  if (type_of(v, path) != sj::json_type::object) {
    throw invalid_input(path, "expected an object");
  }
  sj::object o;
  if (auto e = v.get_object().get(o)) {
    malformed(path, e);
  }
  return o;
}

request decode_request(sj::value& v) {
  request req;
  bool has_method = false;
  sj::object o = object_of(v, "request");
  for (auto field : o) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) {
      malformed("request", e);
    }
    sj::value val;
    if (auto e = field.value().get(val)) {
      malformed(join("request", key), e);
    }
    if (key == "method") {
      req.method = short_string(val, "request.method", false);
      has_method = true;
    } else if (key == "arguments") {
      if (is_null(val, "request.arguments")) {
        req.arguments_json = "{}";
      } else if (type_of(val, "request.arguments") != sj::json_type::object) {
        throw invalid_input("request.arguments", "expected an object");
      } else {
        req.arguments_json = raw_value(val, "request.arguments");
      }
    } else if (key == "call_id") {
      req.call_id = call_id_of(val, "request.call_id");
    }
  }
  if (!has_method) {
    throw invalid_input("request.method", "field required");
  }
  if (req.method.empty()) {
    throw invalid_input("request.method", "must not be empty");
  }
  return req;
}

response decode_response(sj::value& v) {
  response resp;
  sj::object o = object_of(v, "response");
  for (auto field : o) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) {
      malformed("response", e);
    }
    sj::value val;
    if (auto e = field.value().get(val)) {
      malformed(join("response", key), e);
    }
    if (key == "result") {
      resp.result_json = raw_value(val, "response.result");
    } else if (key == "result_type") {
      resp.result_type = short_string(val, "response.result_type", true);
    } else if (key == "call_id") {
      resp.call_id = call_id_of(val, "response.call_id");
    }
  }
  return resp;
}

std::string quote(std::string_view s) {
  return nlohmann::json(std::string(s)).dump();
}

}  // namespace

frame decode(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    throw invalid_input("", fmt::format("frame larger than {} bytes", max_bytes));
  }
  // Most frames are small RPC calls and answers (a notify's answer for every subscriber on
  // every update): one parser per thread for those, instead of its buffers allocated per frame;
  // a large frame gets a parser of its own, so no thread keeps a large buffer.
  constexpr std::size_t shared_parser_max = 16 * 1024;
  thread_local sj::parser small_frames(shared_parser_max);
  std::optional<sj::parser> large;
  sj::parser& parser = text.size() <= shared_parser_max ? small_frames : large.emplace();
  simdjson::padded_string padded(text);
  sj::document doc;
  if (auto e = parser.iterate(padded).get(doc)) {
    malformed("", e);
  }
  sj::object root;
  if (auto e = doc.get_object().get(root)) {
    throw invalid_input("", e == simdjson::INCORRECT_TYPE ? "expected an object"
                                                         : simdjson::error_message(e));
  }
  frame f;
  for (auto field : root) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) {
      malformed("", e);
    }
    sj::value val;
    if (auto e = field.value().get(val)) {
      malformed(std::string(key), e);
    }
    if (key == "request") {
      if (!is_null(val, "request")) {
        f.req = decode_request(val);
      }
    } else if (key == "response") {
      if (!is_null(val, "response")) {
        f.resp = decode_response(val);
      }
    }
  }
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) {
    malformed("", simdjson::TRAILING_CONTENT);
  }
  if (f.req.has_value() == f.resp.has_value()) {
    throw invalid_input("", "exactly one of request and response must be non-null");
  }
  return f;
}

std::string encode_request(std::string_view method, std::string_view arguments_json,
                           std::string_view call_id) {
  return fmt::format(R"({{"request": {{"method": {}, "arguments": {}, "call_id": {}}}, )"
                     R"("response": null}})",
                     quote(method), arguments_json.empty() ? "{}" : arguments_json,
                     quote(call_id));
}

std::string encode_response(std::string_view result_json, std::string_view result_type,
                            std::string_view call_id) {
  return fmt::format(R"({{"request": null, "response": {{"result": {}, "result_type": {}, )"
                     R"("call_id": {}}}}})",
                     result_json.empty() ? "null" : result_json, quote(result_type),
                     quote(call_id));
}

std::string new_call_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t hi = rng();
  std::uint64_t lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  return fmt::format("{:016x}{:016x}", hi, lo);
}

std::vector<std::string> decode_topics_arguments(std::string_view arguments_json) {
  auto doc = nlohmann::json::parse(arguments_json, nullptr, false);
  if (doc.is_discarded()) {
    throw invalid_input("arguments", "malformed JSON");
  }
  if (!doc.is_object()) {
    throw invalid_input("arguments", "expected an object");
  }
  auto it = doc.find("topics");
  if (it == doc.end()) {
    throw invalid_input("arguments.topics", "field required");
  }
  if (!it->is_array()) {
    throw invalid_input("arguments.topics", "expected a list of strings");
  }
  std::vector<std::string> topics;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& t = (*it)[i];
    if (!t.is_string()) {
      throw invalid_input(fmt::format("arguments.topics[{}]", i), "expected a string");
    }
    topics.push_back(t.get<std::string>());
  }
  return topics;
}

std::string encode_topics_arguments(const std::vector<std::string>& topics) {
  std::string out = R"({"topics": [)";
  for (std::size_t i = 0; i < topics.size(); ++i) {
    if (i > 0) {
      out += ", ";
    }
    out += quote(topics[i]);
  }
  out += "]}";
  return out;
}

std::string encode_notify_arguments(std::string_view subscription_id,
                                    std::string_view subscriber_id, std::string_view topic,
                                    std::string_view data_json) {
  return fmt::format(R"({{"subscription": {{"id": {}, "subscriber_id": {}, "topic": {}, )"
                     R"("notifier_id": null}}, "data": {}}})",
                     quote(subscription_id), quote(subscriber_id), quote(topic),
                     data_json.empty() ? "null" : data_json);
}

notify_arguments decode_notify_arguments(std::string_view arguments_json) {
  sj::parser parser;
  simdjson::padded_string padded(arguments_json);
  sj::document doc;
  if (auto e = parser.iterate(padded).get(doc)) {
    malformed("arguments", e);
  }
  sj::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    throw invalid_input("arguments", "expected an object");
  }
  notify_arguments out;
  bool has_topic = false;
  bool has_data = false;
  for (auto field : root) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) {
      malformed("arguments", e);
    }
    sj::value val;
    if (auto e = field.value().get(val)) {
      malformed(join("arguments", key), e);
    }
    if (key == "subscription") {
      sj::object sub = object_of(val, "arguments.subscription");
      for (auto sf : sub) {
        std::string_view sk;
        if (auto e = sf.unescaped_key().get(sk)) {
          malformed("arguments.subscription", e);
        }
        if (sk != "topic") {
          continue;
        }
        sj::value tv;
        if (auto e = sf.value().get(tv)) {
          malformed("arguments.subscription.topic", e);
        }
        std::string_view t;
        if (type_of(tv, "arguments.subscription.topic") != sj::json_type::string ||
            tv.get_string().get(t)) {
          throw invalid_input("arguments.subscription.topic", "expected a string");
        }
        if (auto pos = t.find("::"); pos != std::string_view::npos) {
          t = t.substr(pos + 2);
        }
        out.topic = std::string(t);
        has_topic = true;
      }
    } else if (key == "data") {
      out.data_json = raw_value(val, "arguments.data");
      has_data = true;
    }
  }
  if (!has_topic) {
    throw invalid_input("arguments.subscription.topic", "field required");
  }
  if (!has_data) {
    throw invalid_input("arguments.data", "field required");
  }
  return out;
}

}  // namespace pdl::rpc
