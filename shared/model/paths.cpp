#include "shared/model/paths.hpp"

#include <fmt/format.h>

#include "shared/model/errors.hpp"

namespace pdl::model {

std::vector<std::string> split_dst_path(std::string_view dst_path) {
  std::vector<std::string> segments;
  std::string_view rest = dst_path;
  if (rest == "." || rest == "/" || rest.empty()) {
    return segments;
  }
  if (rest.front() == '/') {
    rest.remove_prefix(1);
  }
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);  // OPA answers 301 to a trailing slash; users mean the same path
  }
  while (true) {
    const auto slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    if (seg.empty() || seg == "." || seg == "..") {
      throw invalid_input("dst_path",
                          fmt::format("'{}' has an empty, '.' or '..' segment", dst_path));
    }
    segments.emplace_back(seg);
    if (slash == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(slash + 1);
  }
  return segments;
}

std::string normalize_dst_path(std::string_view dst_path) {
  std::string out;
  for (const auto& seg : split_dst_path(dst_path)) {
    out += '/';
    out += seg;
  }
  return out;
}

std::string opa_data_url_path(std::string_view dst_path) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "/v1/data";
  for (const auto& seg : split_dst_path(dst_path)) {
    out += '/';
    // Only RFC 3986 unreserved bytes go through as they are; OPA decodes every escape, so a
    // '/' or '%' inside a segment stays part of that one key.
    for (const char ch : seg) {
      const auto c = static_cast<unsigned char>(ch);
      const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                              c == '~';
      if (unreserved) {
        out += ch;
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 0x0f];
      }
    }
  }
  return out;
}

bool paths_overlap(std::string_view a, std::string_view b) {
  if (a == "/") {
    a = "";
  }
  if (b == "/") {
    b = "";
  }
  if (a.size() > b.size()) {
    std::swap(a, b);
  }
  // a is the shorter: it overlaps b when it is b or a segment-wise ancestor of b.
  return b.substr(0, a.size()) == a && (b.size() == a.size() || b[a.size()] == '/');
}

}  // namespace pdl::model
