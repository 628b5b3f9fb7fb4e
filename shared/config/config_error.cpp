#include "shared/config/config_error.hpp"

#include <utility>

namespace pdl::config {
namespace {

std::string render(const std::vector<problem>& problems) {
  std::string text = problems.size() == 1 ? "invalid configuration:"
                                          : "invalid configuration (" +
                                                std::to_string(problems.size()) + " problems):";
  for (const auto& p : problems) {
    text += "\n  ";
    text += p.where.empty() ? p.message : p.where + ": " + p.message;
  }
  return text;
}

}  // namespace

config_error::config_error(std::vector<problem> problems)
    : std::runtime_error(render(problems)), problems_(std::move(problems)) {}

}  // namespace pdl::config
