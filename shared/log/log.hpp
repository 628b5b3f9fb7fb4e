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
 *  logger, current and future. Throws std::invalid_argument on an unknown level name. */
void init(std::string_view level, format fmt = format::text);

/** The logger named @p component, created on first use on the shared stderr sink. Thread-safe. */
std::shared_ptr<spdlog::logger> get(const std::string& component);

}  // namespace pdl::log
