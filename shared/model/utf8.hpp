#pragma once
// Text from a peer that we keep and render later (agent ids, error messages from acknowledgements,
// echoes in validation errors) must be valid UTF-8 when it is written into JSON: nlohmann's
// dump() throws on a broken sequence, and a byte-wise cut splits multi-byte characters.
#include <cstddef>
#include <string>
#include <string_view>

namespace pdl::model {

/** True when @p s is well-formed UTF-8 (Unicode 15, table 3-7: no overlong forms, no surrogates,
 *  nothing above U+10FFFF). */
bool valid_utf8(std::string_view s) noexcept;

/**
 * @p s as well-formed UTF-8 of at most @p max_bytes bytes: every ill-formed sequence (each
 * maximal subpart, as the Unicode standard recommends) becomes U+FFFD, and the text is cut
 * before the first character that would not fit whole. Never splits a character.
 * @return @p s unchanged when it is valid and short enough.
 */
std::string truncate_utf8(std::string_view s, std::size_t max_bytes);

/** truncate_utf8() without a length bound: only the repair. */
inline std::string sanitize_utf8(std::string_view s) {
  return truncate_utf8(s, std::string_view::npos);
}

}  // namespace pdl::model
