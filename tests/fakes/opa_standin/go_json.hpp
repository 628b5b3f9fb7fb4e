#pragma once
// Go's encoding/json as OPA uses it, reproduced closely enough that a client cannot tell the
// stand-in from a real OPA by its bytes: the decoder's error messages ("EOF", "unexpected EOF",
// "invalid character 'o' in literal null (expecting 'u')", ...), json.Marshal's escaping
// (HTML-safe, U+2028/U+2029) and json.MarshalIndent's two-space layout.
//
// Known difference: Go keeps number literals as written (json.Number); nlohmann::json keeps
// integers exactly but re-prints floats in its own shortest form (1e3 comes back as 1000.0).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pdl::fakes::go_json {

/** Outcome of decoding one JSON value. */
struct decode_result {
  bool ok = false;
  nlohmann::json value;
  std::string error;  // Go's message when !ok ("EOF" for an empty or blank body)
};

/** Decodes the first JSON value of @p body like Go's json.Decoder.Decode into interface{}
 *  (bytes after the first complete value are ignored, as Go does; nesting deeper than 10000
 *  fails with "exceeded max depth"; invalid UTF-8 in strings becomes U+FFFD). */
decode_result decode(std::string_view body);

/** Go's type word for @p v in an UnmarshalTypeError: object, array, string, number, bool. */
std::string_view type_word(const nlohmann::json& v);

/** json.Marshal(v): compact, keys sorted, '<' '>' '&' U+2028 U+2029 escaped as \uXXXX. */
std::string encode(const nlohmann::json& v);

/** json.MarshalIndent(v, "", "  "). */
std::string encode_indent(const nlohmann::json& v);

/** strconv.Atoi: optional sign, decimal digits only, must fit in 64 bits. */
std::optional<std::int64_t> atoi(std::string_view s);

/** fmt's %q of a string: double-quoted with Go escapes. */
std::string quote(std::string_view s);

/** url.PathUnescape; nullopt on a malformed escape. */
std::optional<std::string> path_unescape(std::string_view s);

/** url.QueryUnescape ('+' is a space); nullopt on a malformed escape. */
std::optional<std::string> query_unescape(std::string_view s);

}  // namespace pdl::fakes::go_json
