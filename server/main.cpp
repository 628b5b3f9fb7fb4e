// opal-server: parses the command line, loads the config, runs. Everything else is in
// pdl_server_lib.
#include <iostream>

#include <CLI/CLI.hpp>

#include "server/config_printer.hpp"
#include "server/policy/policy_source.hpp"
#include "server/server.hpp"
#include "server/server_auth.hpp"
#include "server/version.hpp"
#include "shared/cli/commands.hpp"
#include "shared/cli/parse.hpp"
#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"

namespace {

struct config_flags {
  std::string config_path;
  std::optional<std::string> host;
  std::optional<int> port;
  std::string port_file;
  std::optional<std::string> data_dir;
  std::optional<std::string> policy_dir;

  void add_to(CLI::App* app, bool with_port_file) {
    app->add_option("--config", config_path, "YAML configuration file");
    app->add_option("--host", host, "address to listen on (OPAL_SERVER_HOST)");
    app->add_option("--port", port, "port to listen on, 0 = any (OPAL_SERVER_BIND_PORT)")
        ->check(CLI::Range(0, 65535));
    app->add_option("--data-dir", data_dir,
                    "directory of the durable update log (OPAL_SERVER_DATA_DIR); unset: "
                    "in memory, lost on restart");
    app->add_option("--policy-dir", policy_dir,
                    "serve policy bundles of the .rego and data.json files here "
                    "(OPAL_POLICY_DIR)");
    if (with_port_file) {
      app->add_option("--port-file", port_file,
                      "write the bound port here (atomically) once listening");
    }
  }

  pdl::config::server_config load() const {
    auto cfg = pdl::config::load_server_config(config_path, pdl::config::process_env());
    if (host) {
      cfg.host = *host;
    }
    if (port) {
      cfg.port = static_cast<std::uint16_t>(*port);
    }
    if (data_dir) {
      cfg.data_dir = *data_dir;
    }
    if (policy_dir) {
      if (auto why = pdl::config::policy_dir_problem(*policy_dir)) {
        throw pdl::config::config_error({pdl::config::problem{"--policy-dir", *why}});
      }
      cfg.policy_dir = *policy_dir;
    }
    cfg.port_file = port_file;
    return cfg;
  }
};

void init_logging(const pdl::config::server_config& cfg) {
  pdl::log::init(cfg.log_level,
                 cfg.log_format == "json" ? pdl::log::format::json : pdl::log::format::text);
}

void print_problems(const pdl::config::config_error& e) {
  std::cerr << "configuration refused:\n";
  for (const auto& p : e.problems()) {
    std::cerr << "  " << p.where << ": " << p.message << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"opal-server (pdl): OPAL's data path, in C++"};
  app.require_subcommand(1);
  config_flags flags;

  auto* run = app.add_subcommand("run", "serve the API and the pub/sub WebSocket");
  flags.add_to(run, true);
  auto* check = app.add_subcommand("check-config", "load and validate the configuration");
  flags.add_to(check, false);
  auto* print = app.add_subcommand("print-config", "print the effective configuration");
  flags.add_to(print, false);
  std::string print_format = "yaml";
  print->add_option("--format", print_format, "yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}));
  auto* version = app.add_subcommand("version", "print the version");
  pdl::cli::common_commands common(app);

  if (const int rc = pdl::cli::parse_command_line(app, argc, argv); rc >= 0) {
    return rc;
  }

  if (version->parsed()) {
    std::cout << "opal-server (pdl) " << pdl::server::version << "\n";
    return 0;
  }
  if (int rc = common.run_selected(); rc >= 0) {
    return rc;
  }
  try {
    auto cfg = flags.load();
    if (check->parsed()) {
      pdl::log::init("error");
      pdl::server::server_auth::check_keys(cfg);
      for (const auto& line : cfg.ignored_env) {
        std::cerr << "warning: ignored: " << line << "\n";
      }
      if (!cfg.policy_dir.empty()) {
        // What run would serve: a bad file is a warning (run keeps serving the last good
        // bundle), and CI can check a ConfigMap before it ships.
        std::cerr << pdl::server::policy::check_directory(cfg) << "\n";
      }
      std::cout << "config OK\n";
      return 0;
    }
    if (print->parsed()) {
      auto doc = pdl::server::effective_config(cfg);
      std::cout << (print_format == "json" ? doc.dump(2) + "\n" : pdl::server::to_yaml(doc));
      return 0;
    }
    init_logging(cfg);
    for (const auto& line : cfg.ignored_env) {
      SPDLOG_LOGGER_WARN(pdl::log::get("server.config"), "ignored: {}", line);
    }
    return pdl::server::run_until_signalled(std::move(cfg));
  } catch (const pdl::config::config_error& e) {
    print_problems(e);
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
