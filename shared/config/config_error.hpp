#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace pdl::config {

/** One problem in the configuration: where ("server.port", "env OPAL_SERVER_BIND_PORT",
 *  "--port") and what. */
struct problem {
  std::string where;
  std::string message;
};

/** Startup refused: every problem found, not only the first. what() lists them one per line. */
class config_error : public std::runtime_error {
 public:
  explicit config_error(std::vector<problem> problems);
  const std::vector<problem>& problems() const noexcept { return problems_; }

 private:
  std::vector<problem> problems_;
};

}  // namespace pdl::config
