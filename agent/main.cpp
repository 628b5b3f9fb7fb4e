// opal-client: parse flags, load config, build the agent, run until SIGTERM/SIGINT.
#include <malloc.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "agent/config_printer.hpp"
#include "agent/data_agent.hpp"
#include "agent/ws_url.hpp"
#include "shared/cli/commands.hpp"
#include "shared/cli/parse.hpp"
#include "shared/config/agent_config.hpp"
#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"

namespace {

constexpr const char* version_text = "opal-client (pdl) 0.1.0";
constexpr int exit_config = 2;
// How long a graceful stop may take before the process exits anyway (Kubernetes sends SIGKILL
// after its grace period, 30 s by default).
constexpr auto stop_deadline = std::chrono::seconds(10);

void print_problems(const pdl::config::config_error& e) {
  std::cerr << "opal-client: invalid configuration:\n";
  for (const auto& p : e.problems()) {
    std::cerr << "  " << p.where << ": " << p.message << "\n";
  }
}

pdl::config::agent_config load(const std::string& path, const std::string& port_file,
                               const std::string& data_dir) {
  auto cfg = pdl::config::load_agent_config(path, pdl::config::process_env());
  if (!port_file.empty()) {
    cfg.port_file = port_file;
  }
  if (!data_dir.empty()) {
    cfg.data_dir = data_dir;
  }
  // The WebSocket URLs are derived here too, so check-config reports them.
  std::vector<pdl::config::problem> problems;
  for (std::size_t i = 0; i < cfg.server_urls.size(); ++i) {
    try {
      pdl::agent::derive_ws_endpoint(cfg.server_urls[i],
                                     cfg.server_urls.size() == 1
                                         ? std::string("server.url")
                                         : "server.url[" + std::to_string(i) + "]");
    } catch (const pdl::config::config_error& e) {
      problems.insert(problems.end(), e.problems().begin(), e.problems().end());
    }
  }
  if (!problems.empty()) {
    throw pdl::config::config_error(std::move(problems));
  }
  return cfg;
}

int run_agent(const pdl::config::agent_config& cfg) {
  using namespace pdl;
  // One malloc arena: glibc would give every thread that allocates (the loop, the fetch client,
  // the pool) its own, each ~25 KiB of private memory kept for good (docs/benchmarks.md).
  ::mallopt(M_ARENA_MAX, 1);
  try {
    log::init(cfg.log_level, cfg.log_format == "json" ? log::format::json : log::format::text);
  } catch (const std::invalid_argument& e) {
    std::cerr << "opal-client: log.level: " << e.what() << "\n";
    return exit_config;
  }
  auto logger = log::get("agent.main");
  for (const auto& line : cfg.ignored_env) {
    SPDLOG_LOGGER_WARN(log::get("agent.config"), "ignored: {}", line);
  }
  net::io_context ioc(1);
  // Engine writes and file work only (fetches hold no thread), plus one so the engine probe is
  // not queued behind writes to a hung engine.
  net::thread_pool pool(static_cast<std::size_t>(std::max(1, cfg.fetch_workers)) + 1);
  std::unique_ptr<agent::data_agent> agent;
  try {
    agent = agent::make_data_agent(ioc, pool, cfg);
    agent->start();
  } catch (const config::config_error& e) {
    print_problems(e);
    return exit_config;
  } catch (const std::exception& e) {
    SPDLOG_LOGGER_CRITICAL(logger, "cannot start: {}", e.what());
    return 1;
  }

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool deadline_hit = false;
  std::thread watchdog;

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) {
      return;
    }
    SPDLOG_LOGGER_INFO(logger, "signal {}: stopping", sig);
    agent->stop();
    // No new wait: once the agent's tasks are done the io_context runs out of work and run()
    // returns. The watchdog bounds that wait.
    watchdog = std::thread([&] {
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, stop_deadline, [&] { return finished; })) {
        deadline_hit = true;
        ioc.stop();
      }
    });
  });

  for (;;) {
    try {
      ioc.run();
      break;
    } catch (const std::exception& e) {
      // Every task catches its own errors (supervised loops); this is the last line of defence.
      SPDLOG_LOGGER_ERROR(logger, "uncaught exception in the event loop: {}", e.what());
    } catch (...) {
      SPDLOG_LOGGER_ERROR(logger, "uncaught exception of unknown type in the event loop");
    }
  }
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  cv.notify_all();
  if (watchdog.joinable()) {
    watchdog.join();
  }
  if (deadline_hit) {
    SPDLOG_LOGGER_WARN(logger, "in-flight work did not finish within {} s; exiting anyway",
                       stop_deadline.count());
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
    std::_Exit(0);
  }
  pool.stop();
  pool.join();
  agent.reset();
  SPDLOG_LOGGER_INFO(logger, "stopped");
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"opal-client: keeps a policy engine's data in sync with the pdl/OPAL server"};
  app.require_subcommand(1);
  std::string config_path;
  std::string port_file;
  std::string data_dir;

  auto* run = app.add_subcommand("run", "Run the agent");
  run->add_option("--config", config_path, "YAML config file (environment overrides it)");
  run->add_option("--port-file", port_file,
                  "Write the API's bound port here once listening (with api.port 0)");
  run->add_option("--data-dir", data_dir,
                  "Keep the agent id, last applied seq and a backup of the engine's data here");
  auto* check = app.add_subcommand("check-config", "Validate the configuration and exit");
  check->add_option("--config", config_path, "YAML config file");
  auto* print = app.add_subcommand("print-config", "Print the effective configuration");
  print->add_option("--config", config_path, "YAML config file");
  auto* version = app.add_subcommand("version", "Print the version");
  pdl::cli::common_commands common(app);

  if (const int rc = pdl::cli::parse_command_line(app, argc, argv); rc >= 0) {
    return rc;
  }
  if (const int rc = common.run_selected(); rc >= 0) {
    return rc;
  }
  if (version->parsed()) {
    std::cout << version_text << "\n";
    return 0;
  }
  pdl::config::agent_config cfg;
  try {
    cfg = load(config_path, port_file, data_dir);
  } catch (const pdl::config::config_error& e) {
    print_problems(e);
    return exit_config;
  }
  if (check->parsed()) {
    for (const auto& line : cfg.ignored_env) {
      std::cerr << "warning: ignored: " << line << "\n";
    }
    std::cout << "configuration OK\n";
    return 0;
  }
  if (print->parsed()) {
    std::cout << pdl::agent::effective_config(cfg).dump(2) << "\n";
    return 0;
  }
  (void)run;
  return run_agent(cfg);
}
