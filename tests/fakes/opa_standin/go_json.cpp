#include "tests/fakes/opa_standin/go_json.hpp"

#include <charconv>
#include <cstdlib>
#include <utility>

namespace pdl::fakes::go_json {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";
constexpr int max_depth = 10000;  // encoding/json's maxNestingDepth

struct syntax_error {
  std::string message;
};
struct unexpected_eof {};

bool plain_string_byte(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(unsigned char c) {
  if (is_digit(c)) {
    return c - '0';
  }
  return (c | 0x20) - 'a' + 10;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// One UTF-8 sequence at s[i]: its code point and length, or length 0 when invalid
// (overlong, surrogate, out of range or truncated), like utf8.DecodeRune's RuneError.
std::pair<std::uint32_t, std::size_t> decode_utf8(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  std::uint32_t cp = 0;
  std::uint32_t min = 0;
  if (c < 0x80) {
    return {c, 1};
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return {0, 0};
  }
  if (i + len > s.size()) {
    return {0, 0};
  }
  for (std::size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      return {0, 0};
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return {0, 0};
  }
  return {cp, len};
}

// strconv's printable test for the one-byte runes quoteChar can see (U+0000..U+00FF).
bool is_printable_latin1(std::uint32_t r) {
  if (r < 0x20 || r == 0x7F || (r >= 0x80 && r <= 0xA0) || r == 0xAD) {
    return false;
  }
  return true;
}

void append_escaped_rune(std::string& out, std::uint32_t r, std::string_view raw) {
  switch (r) {
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\v': out += "\\v"; return;
    case '\\': out += "\\\\"; return;
    case '"': out += "\\\""; return;
    default: break;
  }
  if (r < 0x20 || r == 0x7F) {
    out += "\\x";
    out += hex_digits[r >> 4];
    out += hex_digits[r & 0xF];
  } else if (r < 0x100 && !is_printable_latin1(r)) {
    out += "\\u00";
    out += hex_digits[r >> 4];
    out += hex_digits[r & 0xF];
  } else if (!raw.empty()) {
    out += raw;
  } else {
    append_utf8(out, r);
  }
}

// encoding/json's quoteChar: the byte as a Go rune literal.
std::string quote_char(unsigned char c) {
  if (c == '\'') {
    return R"('\'')";
  }
  if (c == '"') {
    return R"('"')";
  }
  std::string out = "'";
  append_escaped_rune(out, c, {});
  out += '\'';
  return out;
}

class parser {
 public:
  explicit parser(std::string_view s) : s_(s) {}

  bool only_space() {
    skip_space();
    return i_ >= s_.size();
  }

  nlohmann::json value() {
    skip_space();
    unsigned char c = next();
    switch (c) {
      case '{': return object();
      case '[': return array();
      case '"': return string_literal();
      case 't': literal("true"); return true;
      case 'f': literal("false"); return false;
      case 'n': literal("null"); return nullptr;
      default: break;
    }
    if (c == '-' || is_digit(c)) {
      --i_;
      return number();
    }
    fail(c, "looking for beginning of value");
  }

 private:
  [[noreturn]] static void fail(unsigned char c, std::string_view context) {
    throw syntax_error{"invalid character " + quote_char(c) + " " + std::string(context)};
  }

  void skip_space() {
    while (i_ < s_.size() && is_space(static_cast<unsigned char>(s_[i_]))) {
      ++i_;
    }
  }

  unsigned char next() {
    if (i_ >= s_.size()) {
      throw unexpected_eof{};
    }
    return static_cast<unsigned char>(s_[i_++]);
  }

  void push() {
    if (++depth_ > max_depth) {
      throw syntax_error{"exceeded max depth"};
    }
  }

  nlohmann::json object() {
    push();
    auto obj = nlohmann::json::object();
    skip_space();
    unsigned char c = next();
    if (c != '}') {
      for (;;) {
        if (c != '"') {
          fail(c, "looking for beginning of object key string");
        }
        std::string key = string_text();
        skip_space();
        c = next();
        if (c != ':') {
          fail(c, "after object key");
        }
        obj[std::move(key)] = value();  // a repeated key: the last one wins, as in Go
        skip_space();
        c = next();
        if (c == '}') {
          break;
        }
        if (c != ',') {
          fail(c, "after object key:value pair");
        }
        skip_space();
        c = next();
      }
    }
    --depth_;
    return obj;
  }

  nlohmann::json array() {
    push();
    auto arr = nlohmann::json::array();
    skip_space();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
    } else {
      for (;;) {
        arr.push_back(value());
        skip_space();
        unsigned char c = next();
        if (c == ']') {
          break;
        }
        if (c != ',') {
          fail(c, "after array element");
        }
      }
    }
    --depth_;
    return arr;
  }

  nlohmann::json string_literal() { return nlohmann::json(string_text()); }

  std::uint32_t hex4() {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = next();
      if (!is_hex(c)) {
        fail(c, "in \\u hexadecimal character escape");
      }
      v = (v << 4) | static_cast<std::uint32_t>(hex_value(c));
    }
    return v;
  }

  // The opening quote is consumed; returns the decoded text.
  std::string string_text() {
    std::string out;
    for (;;) {
      std::size_t run = i_;  // plain bytes are copied in bulk: bodies may be 100 MB
      while (run < s_.size() && plain_string_byte(static_cast<unsigned char>(s_[run]))) {
        ++run;
      }
      out.append(s_.substr(i_, run - i_));
      i_ = run;
      unsigned char c = next();
      if (c == '"') {
        return out;
      }
      if (c == '\\') {
        escape(out);
      } else if (c < 0x20) {
        fail(c, "in string literal");
      } else if (c < 0x80) {
        out += static_cast<char>(c);
      } else {
        auto [cp, len] = decode_utf8(s_, i_ - 1);
        if (len == 0) {
          out += "\xEF\xBF\xBD";
        } else {
          out.append(s_.substr(i_ - 1, len));
          i_ += len - 1;
        }
      }
    }
  }

  void escape(std::string& out) {
    unsigned char c = next();
    switch (c) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: fail(c, "in string escape code");
    }
    std::uint32_t cp = hex4();
    if (cp >= 0xD800 && cp < 0xDC00) {
      // A high surrogate combines only with an immediately following low one.
      if (i_ + 6 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
        std::size_t save = i_;
        i_ += 2;
        bool all_hex = true;
        for (std::size_t k = 0; k < 4; ++k) {
          all_hex = all_hex && is_hex(static_cast<unsigned char>(s_[i_ + k]));
        }
        if (all_hex) {
          std::uint32_t lo = hex4();
          if (lo >= 0xDC00 && lo < 0xE000) {
            append_utf8(out, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
            return;
          }
        }
        i_ = save;
      }
      cp = 0xFFFD;
    } else if (cp >= 0xDC00 && cp < 0xE000) {
      cp = 0xFFFD;
    }
    append_utf8(out, cp);
  }

  void digits() {
    while (i_ < s_.size() && is_digit(static_cast<unsigned char>(s_[i_]))) {
      ++i_;
    }
  }

  nlohmann::json number() {
    std::size_t start = i_;
    unsigned char c = next();
    if (c == '-') {
      c = next();
      if (!is_digit(c)) {
        fail(c, "in numeric literal");
      }
    }
    if (c != '0') {
      digits();
    }
    bool integral = true;
    if (i_ < s_.size() && s_[i_] == '.') {
      integral = false;
      ++i_;
      c = next();
      if (!is_digit(c)) {
        fail(c, "after decimal point in numeric literal");
      }
      digits();
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false;
      ++i_;
      c = next();
      if (c == '+' || c == '-') {
        c = next();
      }
      if (!is_digit(c)) {
        fail(c, "in exponent of numeric literal");
      }
      digits();
    }
    std::string_view text = s_.substr(start, i_ - start);
    if (integral) {
      std::int64_t i64 = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), i64);
      if (r.ec == std::errc() && r.ptr == text.data() + text.size()) {
        return i64;
      }
      std::uint64_t u64 = 0;
      r = std::from_chars(text.data(), text.data() + text.size(), u64);
      if (r.ec == std::errc() && r.ptr == text.data() + text.size()) {
        return u64;
      }
    }
    return std::strtod(std::string(text).c_str(), nullptr);
  }

  void literal(std::string_view word) {
    for (std::size_t k = 1; k < word.size(); ++k) {
      unsigned char c = next();
      if (c != static_cast<unsigned char>(word[k])) {
        fail(c, "in literal " + std::string(word) + " (expecting " +
                    quote_char(static_cast<unsigned char>(word[k])) + ")");
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  int depth_ = 0;
};

void encode_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    std::size_t run = i;
    while (run < s.size() && plain_string_byte(static_cast<unsigned char>(s[run])) &&
           s[run] != '<' && s[run] != '>' && s[run] != '&') {
      ++run;
    }
    out.append(s.substr(i, run - i));
    i = run;
    if (i == s.size()) {
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          out += "\\u00";
          out += hex_digits[c >> 4];
          out += hex_digits[c & 0xF];
      }
      continue;
    }
    auto [cp, len] = decode_utf8(s, i);
    if (len == 0) {
      out += "\\ufffd";
      ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      out += cp == 0x2028 ? "\\u2028" : "\\u2029";
      i += len;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  out += '"';
}

void indent_to(std::string& out, int level) {
  out += '\n';
  out.append(static_cast<std::size_t>(level) * 2, ' ');
}

// level < 0: compact.
void encode_value(std::string& out, const nlohmann::json& v, int level) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: {
      if (v.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) {
          out += ',';
        }
        first = false;
        if (level >= 0) {
          indent_to(out, level + 1);
        }
        encode_string(out, key);
        out += level >= 0 ? ": " : ":";
        encode_value(out, item, level >= 0 ? level + 1 : -1);
      }
      if (level >= 0) {
        indent_to(out, level);
      }
      out += '}';
      return;
    }
    case nlohmann::json::value_t::array: {
      if (v.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) {
          out += ',';
        }
        first = false;
        if (level >= 0) {
          indent_to(out, level + 1);
        }
        encode_value(out, item, level >= 0 ? level + 1 : -1);
      }
      if (level >= 0) {
        indent_to(out, level);
      }
      out += ']';
      return;
    }
    case nlohmann::json::value_t::string:
      encode_string(out, v.get_ref<const std::string&>());
      return;
    default:
      out += v.dump();  // null, booleans and numbers print the same in both libraries
      return;
  }
}

std::optional<std::string> unescape(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !is_hex(static_cast<unsigned char>(s[i + 1])) ||
          !is_hex(static_cast<unsigned char>(s[i + 2]))) {
        return std::nullopt;
      }
      out += static_cast<char>(hex_value(static_cast<unsigned char>(s[i + 1])) * 16 +
                               hex_value(static_cast<unsigned char>(s[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

decode_result decode(std::string_view body) {
  decode_result r;
  parser p(body);
  if (p.only_space()) {
    r.error = "EOF";
    return r;
  }
  try {
    r.value = p.value();
    r.ok = true;
  } catch (const unexpected_eof&) {
    r.error = "unexpected EOF";
  } catch (const syntax_error& e) {
    r.error = e.message;
  }
  return r;
}

std::string_view type_word(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: return "object";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::boolean: return "bool";
    case nlohmann::json::value_t::null: return "null";
    default: return "number";
  }
}

std::string encode(const nlohmann::json& v) {
  std::string out;
  encode_value(out, v, -1);
  return out;
}

std::string encode_indent(const nlohmann::json& v) {
  std::string out;
  encode_value(out, v, 0);
  return out;
}

std::optional<std::int64_t> atoi(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return std::nullopt;
  }
  std::uint64_t mag = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), mag);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  constexpr std::uint64_t limit = static_cast<std::uint64_t>(INT64_MAX);
  if (neg) {
    if (mag > limit + 1) {
      return std::nullopt;
    }
    return mag == limit + 1 ? INT64_MIN : -static_cast<std::int64_t>(mag);
  }
  if (mag > limit) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(mag);
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    auto [cp, len] = decode_utf8(s, i);
    if (len == 0) {
      auto b = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out += hex_digits[b >> 4];
      out += hex_digits[b & 0xF];
      ++i;
      continue;
    }
    append_escaped_rune(out, cp, s.substr(i, len));
    i += len;
  }
  out += '"';
  return out;
}

std::optional<std::string> path_unescape(std::string_view s) { return unescape(s, false); }

std::optional<std::string> query_unescape(std::string_view s) { return unescape(s, true); }

}  // namespace pdl::fakes::go_json
