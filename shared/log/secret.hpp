#pragma once
// A string that must never be logged: tokens, passwords, source headers.
// Formatting it with fmt/spdlog prints "<redacted>"; read it with reveal() only where it is used.
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace pdl {

class secret {
 public:
  secret() = default;
  explicit secret(std::string value) : value_(std::move(value)) {}

  const std::string& reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  friend bool operator==(const secret&, const secret&) = default;

 private:
  std::string value_;
};

}  // namespace pdl

template <>
struct fmt::formatter<pdl::secret> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const pdl::secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("<redacted>", ctx);
  }
};
