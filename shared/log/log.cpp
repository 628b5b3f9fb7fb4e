#include "shared/log/log.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace pdl::log {
namespace {

constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %*";
constexpr const char* json_pattern =
    R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%*"})";

/**
 * The message (%*): in JSON lines, escaped as a JSON string body; in text lines, control
 * characters escaped, so a value from the network (a topic, a path) can never forge a line.
 * Bytes >= 0x80 pass through: a JSON string may hold UTF-8 as is.
 */
class message_flag final : public spdlog::custom_flag_formatter {
 public:
  explicit message_flag(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto* p = msg.payload.data();
    const auto* end = p + msg.payload.size();
    for (; p != end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (json_ && (c == '"' || c == '\\')) {
        dest.push_back('\\');
        dest.push_back(static_cast<char>(c));
      } else if (c == '\n') {
        append(dest, "\\n");
      } else if (c == '\r') {
        append(dest, "\\r");
      } else if (c == '\t') {
        append(dest, json_ ? "\\t" : "\t");
      } else if (c < 0x20 || c == 0x7f) {
        append(dest, fmt::format("\\u{:04x}", c));
      } else {
        dest.push_back(static_cast<char>(c));
      }
    }
  }

  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<message_flag>(json_);
  }

 private:
  static void append(spdlog::memory_buf_t& dest, std::string_view s) {
    dest.append(s.data(), s.data() + s.size());
  }
  bool json_;
};

std::unique_ptr<spdlog::formatter> make_formatter(format fmt) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<message_flag>('*', fmt == format::json);
  f->set_pattern(fmt == format::json ? json_pattern : text_pattern);
  return f;
}

struct registry {
  std::mutex mu;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::info;
  format fmt = format::text;
  bool formatter_set = false;
};

registry& reg() {
  static registry r;
  return r;
}

void apply_formatter(registry& r) {
  r.sink->set_formatter(make_formatter(r.fmt));
  r.formatter_set = true;
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
  r.fmt = fmt;
  apply_formatter(r);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
}

void use_sink(spdlog::sink_ptr sink) {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  r.sink = std::move(sink);
  apply_formatter(r);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    l->sinks().clear();
    l->sinks().push_back(r.sink);
  });
}

std::shared_ptr<spdlog::logger> get(const std::string& component) {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  if (auto existing = spdlog::get(component)) {
    return existing;
  }
  auto logger = std::make_shared<spdlog::logger>(component, r.sink);
  logger->set_level(r.level);
  if (!r.formatter_set) {
    apply_formatter(r);
  }
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace pdl::log
