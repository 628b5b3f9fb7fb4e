#pragma once
#include <string_view>

namespace pdl::server {

inline constexpr std::string_view version = "0.1.0";

}  // namespace pdl::server
