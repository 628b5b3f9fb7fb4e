#include "shared/model/json_text.hpp"

#include <nlohmann/json.hpp>

namespace pdl::model {

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0x0f];
        } else {
          out += ch;
        }
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_json_escaped(out, s);
  out += '"';
}

std::string parse_error_text(const nlohmann::json::parse_error& e) {
  std::string msg = e.what();
  if (auto pos = msg.find("] "); pos != std::string::npos) {
    msg = msg.substr(pos + 2);
  }
  if (auto lr = msg.find("; last read: '"); lr != std::string::npos) {
    auto end = msg.find("'; ", lr + 14);
    msg.erase(lr, end == std::string::npos ? std::string::npos : end + 1 - lr);
  }
  return msg;
}

std::string exception_text(const std::exception& e) {
  if (const auto* pe = dynamic_cast<const nlohmann::json::parse_error*>(&e)) {
    return parse_error_text(*pe);
  }
  return e.what();
}

}  // namespace pdl::model
