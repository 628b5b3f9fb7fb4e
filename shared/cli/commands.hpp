#pragma once
// The verbs both binaries share, with OPAL's names and flags:
//   generate-secret [--size 32] [--format urlsafe|hex|bytes]
//   obtain-token MASTER [--uri|--server-url URL] [--type client|datasource|listener]
//                [--ttl N [UNIT]] [--claims JSON] [--just-the-token|--no-just-the-token]
//   publish-data-update [TOKEN] [--uri|--server-url URL] [--server-route /data/config]
//                [--reason R] [-e|--entries JSON] [--src-url URL] [-t|--topic T]...
//                [--data JSON] [--src-config JSON] [--dst-path P] [--save-method PUT|PATCH]
//                [--fetched-by agent|server]
//                [--wait [SECONDS]]   (pdl only; exit codes in shared/cli/delivery_report.hpp)
// Each returns the process exit code through the pdl::cli::exit_code mechanism below.
#include <memory>
#include <string>

namespace CLI {
class App;
}

namespace pdl::cli {

/** Registers the shared verbs on @p app. After app.parse(), call run_selected(); it returns
 *  the exit code of the verb that was chosen, or -1 when none of them was. */
class common_commands {
 public:
  explicit common_commands(CLI::App& app);
  ~common_commands();
  int run_selected();

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace pdl::cli
