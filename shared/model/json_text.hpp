#pragma once
// Small JSON text helpers shared by the model, the agent and the config/CLI parsers.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pdl::model {

/** Appends @p s to @p out escaped as the inside of a JSON string (no surrounding quotes).
 *  Works chunk by chunk: escaping never spans two calls. */
void append_json_escaped(std::string& out, std::string_view s);

/** Appends @p s as a quoted JSON string. */
void append_json_string(std::string& out, std::string_view s);

/** nlohmann's parse error without the input bytes it quotes ("last read: '...'"), which may be a
 *  secret: keeps the position and the kind of error. */
std::string parse_error_text(const nlohmann::json::parse_error& e);

/** e.what(), through parse_error_text() when @p e is one of nlohmann's parse errors: for the
 *  log line of an exception nobody expected (it may come from parsing a request body). */
std::string exception_text(const std::exception& e);

}  // namespace pdl::model
