#include "shared/model/json_validator.hpp"

#include <array>

#include <fmt/format.h>

namespace pdl::model {
namespace {

// One state per place in the RFC 8259 grammar where a chunk may end.
enum state : int {
  s_value = 0,     // a value is expected (document start, after ':' or after ',' in an array)
  s_array_first,   // after '[': a value or ']'
  s_object_first,  // after '{': a key or '}'
  s_key,           // after ',' in an object: a key
  s_colon,         // after a key
  s_after,         // after a value inside a container: ',' or the closing bracket
  s_done,          // the top-level value is complete: only whitespace may follow
  s_string,
  s_escape,        // after '\' in a string
  s_unicode,       // inside \uXXXX; sub_ counts the hex digits seen
  s_literal,       // inside true/false/null; sub_ is the position in literal_
  s_minus,         // after a leading '-'
  s_zero,          // integer part is "0"
  s_int,           // integer digits
  s_frac0,         // after '.'
  s_frac,          // fraction digits
  s_exp0,          // after 'e' / 'E'
  s_exp_sign,      // after the exponent's sign
  s_exp,           // exponent digits
};

// Byte classes looked up in one table so the hot loops do a single load per byte.
enum : unsigned char { c_plain = 1, c_ws = 2, c_digit = 4 };

constexpr std::array<unsigned char, 256> make_classes() {
  std::array<unsigned char, 256> t{};
  for (int c = 0x20; c < 256; ++c) {
    if (c != '"' && c != '\\') {
      t[c] |= c_plain;
    }
  }
  t[' '] |= c_ws;
  t['\t'] |= c_ws;
  t['\n'] |= c_ws;
  t['\r'] |= c_ws;
  for (int c = '0'; c <= '9'; ++c) {
    t[c] |= c_digit;
  }
  return t;
}

constexpr std::array<unsigned char, 256> classes = make_classes();

inline bool is_ws(unsigned char c) { return (classes[c] & c_ws) != 0; }
inline bool is_digit(unsigned char c) { return (classes[c] & c_digit) != 0; }
inline bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string describe(unsigned char c) {
  if (c >= 0x21 && c < 0x7f) {
    return fmt::format("'{}'", static_cast<char>(c));
  }
  return fmt::format("byte 0x{:02X}", c);
}

}  // namespace

std::string_view to_string(json_type t) noexcept {
  switch (t) {
    case json_type::object: return "object";
    case json_type::array: return "array";
    case json_type::string: return "string";
    case json_type::number: return "number";
    case json_type::boolean: return "boolean";
    case json_type::null: return "null";
  }
  return "unknown";
}

json_validator::json_validator(std::size_t max_depth) : max_depth_(max_depth) {
  stack_.reserve(max_depth_ < 64 ? max_depth_ : 64);
}

bool json_validator::fail_at(std::uint64_t offset, std::string what) {
  error_ = fmt::format("{} at byte {}", what, offset);
  return false;
}

bool json_validator::feed(std::string_view chunk) {
  if (!error_.empty()) {
    return false;
  }
  if (finished_) {
    return fail_at(offset_, "data after the end of input");
  }
  const auto* const begin = reinterpret_cast<const unsigned char*>(chunk.data());
  const auto* const end = begin + chunk.size();
  const auto* p = begin;
  int state = state_;

  // Leaves the machine in a consistent state and records the error at the current byte.
  auto fail = [&](std::string what) {
    state_ = state;
    offset_ += static_cast<std::uint64_t>(p - begin);  // bytes_seen() stops at the bad byte
    return fail_at(offset_, std::move(what));
  };
  auto complete = [&] { return stack_.empty() ? s_done : s_after; };

  while (p < end) {
    switch (state) {
      case s_value:
      case s_array_first: {
        while (p < end && is_ws(*p)) {
          ++p;
        }
        if (p == end) {
          break;
        }
        const unsigned char c = *p;
        if (c == ']' && state == s_array_first) {
          stack_.pop_back();
          ++p;
          state = complete();
          break;
        }
        json_type t;
        switch (c) {
          case '{':
          case '[':
            if (stack_.size() >= max_depth_) {
              return fail(fmt::format("nesting deeper than {} levels", max_depth_));
            }
            stack_.push_back(static_cast<char>(c));
            state = c == '{' ? s_object_first : s_array_first;
            t = c == '{' ? json_type::object : json_type::array;
            break;
          case '"':
            in_key_ = false;
            state = s_string;
            t = json_type::string;
            break;
          case '-':
            state = s_minus;
            t = json_type::number;
            break;
          case '0':
            state = s_zero;
            t = json_type::number;
            break;
          case 't':
          case 'f':
          case 'n':
            literal_ = c == 't' ? "true" : c == 'f' ? "false" : "null";
            sub_ = 1;
            state = s_literal;
            t = c == 'n' ? json_type::null : json_type::boolean;
            break;
          default:
            if (c >= '1' && c <= '9') {
              state = s_int;
              t = json_type::number;
              break;
            }
            return fail(fmt::format("unexpected {} where a value was expected", describe(c)));
        }
        if (!root_) {
          root_ = t;
        }
        ++p;
        break;
      }

      case s_object_first:
      case s_key: {
        while (p < end && is_ws(*p)) {
          ++p;
        }
        if (p == end) {
          break;
        }
        if (*p == '"') {
          in_key_ = true;
          state = s_string;
        } else if (*p == '}' && state == s_object_first) {
          stack_.pop_back();
          state = complete();
        } else {
          return fail(fmt::format("expected an object key, got {}", describe(*p)));
        }
        ++p;
        break;
      }

      case s_colon: {
        while (p < end && is_ws(*p)) {
          ++p;
        }
        if (p == end) {
          break;
        }
        if (*p != ':') {
          return fail(fmt::format("expected ':' after an object key, got {}", describe(*p)));
        }
        state = s_value;
        ++p;
        break;
      }

      case s_after: {
        while (p < end && is_ws(*p)) {
          ++p;
        }
        if (p == end) {
          break;
        }
        const unsigned char c = *p;
        const char open = stack_.back();
        if (c == ',') {
          state = open == '{' ? s_key : s_value;
        } else if ((c == '}' && open == '{') || (c == ']' && open == '[')) {
          stack_.pop_back();
          state = complete();
        } else {
          return fail(fmt::format("expected ',' or '{}', got {}", open == '{' ? '}' : ']',
                                  describe(c)));
        }
        ++p;
        break;
      }

      case s_done: {
        while (p < end && is_ws(*p)) {
          ++p;
        }
        if (p != end) {
          return fail(fmt::format("unexpected {} after the JSON value", describe(*p)));
        }
        break;
      }

      case s_string: {
        // The hot loop: most bytes of most documents are inside strings.
        while (p < end && (classes[*p] & c_plain) != 0) {
          ++p;
        }
        if (p == end) {
          break;
        }
        const unsigned char c = *p;
        if (c == '"') {
          state = in_key_ ? s_colon : complete();
        } else if (c == '\\') {
          state = s_escape;
        } else {
          return fail(fmt::format("unescaped control character {} in a string", describe(c)));
        }
        ++p;
        break;
      }

      case s_escape: {
        const unsigned char c = *p;
        switch (c) {
          case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            state = s_string;
            break;
          case 'u':
            sub_ = 0;
            state = s_unicode;
            break;
          default:
            return fail(fmt::format("invalid escape \\{} in a string", describe(c)));
        }
        ++p;
        break;
      }

      case s_unicode: {
        while (p < end && sub_ < 4) {
          if (!is_hex(*p)) {
            return fail(fmt::format("expected a hex digit in \\u escape, got {}", describe(*p)));
          }
          ++sub_;
          ++p;
        }
        if (sub_ == 4) {
          state = s_string;
        }
        break;
      }

      case s_literal: {
        while (p < end && sub_ < literal_.size()) {
          if (*p != static_cast<unsigned char>(literal_[sub_])) {
            return fail(fmt::format("invalid literal (expected '{}'), got {}", literal_,
                                    describe(*p)));
          }
          ++sub_;
          ++p;
        }
        if (sub_ == literal_.size()) {
          state = complete();
        }
        break;
      }

      case s_minus: {
        if (*p == '0') {
          state = s_zero;
        } else if (*p >= '1' && *p <= '9') {
          state = s_int;
        } else {
          return fail(fmt::format("expected a digit after '-', got {}", describe(*p)));
        }
        ++p;
        break;
      }

      case s_zero: {
        const unsigned char c = *p;
        if (c == '.') {
          state = s_frac0;
          ++p;
        } else if (c == 'e' || c == 'E') {
          state = s_exp0;
          ++p;
        } else if (is_digit(c)) {
          return fail("leading zero in a number");
        } else {
          state = complete();  // the byte ends the number; look at it again
        }
        break;
      }

      case s_int:
      case s_frac:
      case s_exp: {
        while (p < end && is_digit(*p)) {
          ++p;
        }
        if (p == end) {
          break;
        }
        const unsigned char c = *p;
        if (c == '.' && state == s_int) {
          state = s_frac0;
          ++p;
        } else if ((c == 'e' || c == 'E') && state != s_exp) {
          state = s_exp0;
          ++p;
        } else {
          state = complete();
        }
        break;
      }

      case s_frac0: {
        if (!is_digit(*p)) {
          return fail(fmt::format("expected a digit after '.', got {}", describe(*p)));
        }
        state = s_frac;
        ++p;
        break;
      }

      case s_exp0: {
        if (*p == '+' || *p == '-') {
          state = s_exp_sign;
        } else if (is_digit(*p)) {
          state = s_exp;
        } else {
          return fail(fmt::format("expected a digit or sign in an exponent, got {}", describe(*p)));
        }
        ++p;
        break;
      }

      case s_exp_sign: {
        if (!is_digit(*p)) {
          return fail(fmt::format("expected a digit in an exponent, got {}", describe(*p)));
        }
        state = s_exp;
        ++p;
        break;
      }

      default:
        return fail("internal validator error");
    }
  }
  state_ = state;
  offset_ += chunk.size();
  return true;
}

bool json_validator::finish() {
  if (!error_.empty()) {
    return false;
  }
  if (finished_) {
    return true;
  }
  finished_ = true;
  switch (state_) {
    case s_done:
      return true;
    case s_zero:
    case s_int:
    case s_frac:
    case s_exp:
      if (stack_.empty()) {
        state_ = s_done;
        return true;
      }
      break;
    case s_value:
      if (!root_) {
        return fail_at(offset_, "empty input (expected a JSON value)");
      }
      break;
    default:
      break;
  }
  return fail_at(offset_, "unexpected end of input");
}

std::string validate_json(std::string_view doc, std::optional<json_type>* root) {
  json_validator v;
  bool ok = v.feed(doc) && v.finish();
  if (root != nullptr) {
    *root = v.root_type();
  }
  return ok ? std::string() : v.error();
}

}  // namespace pdl::model
