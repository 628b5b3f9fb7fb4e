#pragma once
// One named spdlog logger per component ("server.hub", "agent.fetch", ...), all on one sink.
//
// Secrets never reach a log line: values that carry them are held in pdl::secret (secret.hpp),
// whose formatter prints a redaction marker; JWTs and source headers are never formatted.
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace pdl::log {

enum class format { text, json };

/** Sets the level ("trace".."critical", "off"; case-insensitive) and line format for every
 *  logger, current and future. Throws std::invalid_argument on an unknown level name.
 *  text: `2026-11-28T17:00:00.000+0000 info [server.hub] message`, control characters in the
 *  message escaped (\n, \u0001) so a value from the network cannot forge a line.
 *  json: one object per line, {"time","level","logger","msg"}, msg escaped as a JSON string. */
void init(std::string_view level, format fmt = format::text);

/** Sends every logger, current and future, to @p sink (tests capture lines with it). */
void use_sink(spdlog::sink_ptr sink);

/** The logger named @p component, created on first use on the shared stderr sink. Thread-safe. */
std::shared_ptr<spdlog::logger> get(const std::string& component);

}  // namespace pdl::log
