#include "shared/log/log.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>

#include <spdlog/sinks/stdout_sinks.h>

namespace pdl::log {
namespace {

struct registry {
  std::mutex mu;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::info;
  std::string pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %v";
};

registry& reg() {
  static registry r;
  return r;
}

}  // namespace

void init(std::string_view level, format fmt) {
  std::string name(level);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "warning") {
    name = "warn";
  }
  auto lvl = spdlog::level::from_str(name);
  if (lvl == spdlog::level::off && name != "off") {
    throw std::invalid_argument("unknown log level '" + std::string(level) +
                                "' (expected trace, debug, info, warn, error, critical or off)");
  }
  auto& r = reg();
  std::lock_guard lock(r.mu);
  r.level = lvl;
  r.pattern = fmt == format::json
                  ? R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%v"})"
                  : "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %v";
  r.sink->set_pattern(r.pattern);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
}

std::shared_ptr<spdlog::logger> get(const std::string& component) {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  if (auto existing = spdlog::get(component)) {
    return existing;
  }
  auto logger = std::make_shared<spdlog::logger>(component, r.sink);
  logger->set_level(r.level);
  r.sink->set_pattern(r.pattern);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace pdl::log
