#pragma once
// Drives an io_context from the test thread until a condition holds, with a hard deadline.
#include <chrono>
#include <functional>

#include "shared/net.hpp"

namespace pdl::agent::test {

inline bool run_until(net::io_context& ioc, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    if (ioc.stopped()) {
      ioc.restart();
    }
    ioc.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace pdl::agent::test
