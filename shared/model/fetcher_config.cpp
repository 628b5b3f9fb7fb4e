#include "shared/model/fetcher_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/model/errors.hpp"
#include "shared/model/utf8.hpp"

namespace pdl::model {
namespace {

constexpr std::size_t max_config_bytes = 64 * 1024;

std::string_view type_name(const nlohmann::json& j) {
  return j.is_boolean() ? std::string_view("boolean")
       : j.is_number() ? std::string_view("number")
       : std::string_view(j.type_name());
}

[[noreturn]] void wrong_type(const std::string& path, std::string_view expected,
                             const nlohmann::json& got) {
  throw invalid_input(path, fmt::format("expected {}, got {}", expected, type_name(got)));
}

bool is_token_char(unsigned char c) {
  return std::isalnum(c) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                     std::string_view::npos;
}

void read_headers(const nlohmann::json& headers, http_fetcher_config& out) {
  if (headers.is_null()) {
    return;
  }
  if (!headers.is_object()) {
    wrong_type("config.headers", "an object of strings", headers);
  }
  for (const auto& [name, value] : headers.items()) {
    const bool valid_name =
        !name.empty() && name.size() <= 256 &&
        std::all_of(name.begin(), name.end(),
                    [](char c) { return is_token_char(static_cast<unsigned char>(c)); });
    if (!valid_name) {
      // The name may be garbage (or a pasted secret): do not echo it.
      throw invalid_input("config.headers", "a header name is not a valid HTTP token");
    }
    const std::string path = "config.headers." + name;
    // Messages below name the header only: its value is a secret.
    if (!value.is_string()) {
      wrong_type(path, "a string", value);
    }
    const auto& text = value.get_ref<const std::string&>();
    if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      throw invalid_input(path, "a header value must not contain CR, LF or NUL");
    }
    out.headers.emplace_back(name, secret(text));
  }
}

std::string read_method(const nlohmann::json& method) {
  if (method.is_null()) {
    return "GET";
  }
  if (!method.is_string()) {
    wrong_type("config.method", "a string", method);
  }
  std::string upper = method.get<std::string>();
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  static constexpr std::array<std::string_view, 6> known = {"GET",   "POST", "PUT",
                                                            "PATCH", "HEAD", "DELETE"};
  if (std::find(known.begin(), known.end(), upper) == known.end()) {
    const auto& given = method.get_ref<const std::string&>();
    throw invalid_input(
        "config.method",
        fmt::format("unknown method '{}' (expected get, post, put, patch, head or delete)",
                    given.size() > 32 ? truncate_utf8(given, 32) + "..." : given));
  }
  return upper;
}

}  // namespace

http_fetcher_config parse_fetcher_config(const std::optional<std::string>& config_json) {
  http_fetcher_config config;
  if (!config_json) {
    return config;
  }
  if (config_json->size() > max_config_bytes) {
    throw invalid_input("config", fmt::format("larger than {} KiB", max_config_bytes / 1024));
  }
  nlohmann::json doc = nlohmann::json::parse(*config_json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    throw invalid_input("config", "malformed JSON");
  }
  if (doc.is_null()) {
    return config;
  }
  if (!doc.is_object()) {
    wrong_type("config", "an object", doc);
  }
  for (const auto& [key, value] : doc.items()) {
    if (key == "headers") {
      read_headers(value, config);
    } else if (key == "method") {
      config.method = read_method(value);
    } else if (key == "data") {
      if (value.is_string()) {
        config.body = value.get<std::string>();
      } else if (!value.is_null()) {
        config.body = value.dump();
      }
    } else if (key == "is_json") {
      if (!value.is_boolean()) {
        wrong_type("config.is_json", "a boolean", value);
      }
      config.is_json = value.get<bool>();
    } else if (key == "timeout") {
      if (value.is_null()) {
        continue;
      }
      if (!value.is_number()) {
        wrong_type("config.timeout", "a number of seconds", value);
      }
      const double seconds = value.get<double>();
      if (!(seconds > 0) || seconds > 86400) {
        throw invalid_input("config.timeout", "must be more than 0 and at most 86400 seconds");
      }
      config.timeout = std::chrono::milliseconds(
          std::max<std::int64_t>(1, static_cast<std::int64_t>(seconds * 1000)));
    } else if (key == "fetcher") {
      if (!value.is_null() && !value.is_string()) {
        wrong_type("config.fetcher", "a string", value);
      }
    } else if (key == "process_data") {
      if (!value.is_null() && !value.is_boolean()) {
        wrong_type("config.process_data", "a boolean", value);
      }
    }
    // Other keys belong to custom fetch providers, which pydantic would also ignore.
  }
  return config;
}

}  // namespace pdl::model
