#pragma once
// Incremental (push) JSON validator for payloads that are only forwarded: it sees the bytes chunk
// by chunk as they arrive, keeps O(depth) state, never builds a DOM. simdjson needs the whole
// document in memory, which a 100 MB forwarded payload must not cost, hence this small machine.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pdl::model {

enum class json_type { object, array, string, number, boolean, null };

/** "object", "array", "string", "number", "boolean", "null": for error messages. */
std::string_view to_string(json_type t) noexcept;

class json_validator {
 public:
  explicit json_validator(std::size_t max_depth = 512);

  /** Feeds the next chunk. Returns false once the input is known to be invalid (error() says why
   *  and where); further calls keep returning false. */
  bool feed(std::string_view chunk);
  /** Call after the last chunk. Returns true when the input was exactly one JSON value (RFC 8259,
   *  surrounding whitespace allowed). */
  bool finish();

  /** The type of the top-level value, known once its first byte was seen. */
  std::optional<json_type> root_type() const noexcept { return root_; }
  /** "<what> at byte <offset>", empty while valid. */
  const std::string& error() const noexcept { return error_; }
  std::uint64_t bytes_seen() const noexcept { return offset_; }

 private:
  // The machine's states; see json_validator.cpp. Kept in a plain int so the header stays small.
  bool fail_at(std::uint64_t offset, std::string what);

  std::size_t max_depth_;
  std::string stack_;  // one char per open container: '{' or '['
  int state_ = 0;
  std::uint32_t sub_ = 0;  // per-state scratch: literal position or \u hex digits seen
  std::string_view literal_;  // the literal being matched ("true", "false", "null")
  bool in_key_ = false;       // the open string is an object key
  bool finished_ = false;
  std::optional<json_type> root_;
  std::uint64_t offset_ = 0;
  std::string error_;
};

/** Convenience: validates a whole in-memory document. Returns an empty string when valid, else
 *  the error. When @p root is given it receives the top-level type. */
std::string validate_json(std::string_view doc, std::optional<json_type>* root = nullptr);

}  // namespace pdl::model
