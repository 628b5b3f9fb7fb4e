// opa-standin: answers OPA 1.9's data and policy API on loopback for tests, status by status
// and byte by byte (opa_emulator.hpp lists what is emulated).
// THE DOCUMENTED GAP: there is no Rego. Policies are stored as raw text and never compiled, so
// nothing is evaluated (POST /v1/data returns base documents) and policy/data conflicts are
// never reported. Usage:
//   opa-standin [--addr 127.0.0.1:0] [--port-file PATH] [--fail-writes N] [--log-level info]
// Exits 0 on SIGTERM/SIGINT, 2 on a bad flag, 1 when it cannot listen.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "shared/log/log.hpp"
#include "tests/fakes/opa_standin/loopback_server.hpp"
#include "tests/fakes/opa_standin/opa_emulator.hpp"

namespace {

struct flags {
  std::string addr = "127.0.0.1:0";
  std::string port_file;
  std::size_t fail_writes = 0;
  std::string log_level = "info";
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "opa-standin: %s\nusage: opa-standin [--addr HOST:PORT] [--port-file PATH] "
               "[--fail-writes N] [--log-level LEVEL]\n",
               why.c_str());
  std::exit(2);
}

flags parse(int argc, char** argv) {
  flags f;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(std::string(arg) + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--addr") {
      f.addr = value();
    } else if (arg == "--port-file") {
      f.port_file = value();
    } else if (arg == "--fail-writes") {
      std::string n = value();
      try {
        std::size_t used = 0;
        f.fail_writes = std::stoul(n, &used);
        if (used != n.size()) {
          throw std::invalid_argument(n);
        }
      } catch (const std::exception&) {
        usage("--fail-writes needs a non-negative integer, got '" + n + "'");
      }
    } else if (arg == "--log-level") {
      f.log_level = value();
    } else if (arg == "--help" || arg == "-h") {
      usage("help");
    } else {
      usage("unknown argument '" + std::string(arg) + "'");
    }
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  flags f = parse(argc, argv);
  try {
    pdl::log::init(f.log_level);
  } catch (const std::exception& e) {
    usage(e.what());
  }
  auto log = pdl::log::get("opa-standin");
  try {
    pdl::fakes::opa_emulator emulator({.fail_writes = f.fail_writes});
    auto server = pdl::fakes::loopback_server::create(
        {.addr = f.addr, .logger = "opa-standin"},
        [&emulator](const pdl::fakes::http_request& req) { return emulator.handle(req); });
    SPDLOG_LOGGER_INFO(log, "listening on port {}", server->port());
    if (!f.port_file.empty()) {
      pdl::fakes::write_port_file(f.port_file, server->port());
    }
    server->run(/*handle_signals=*/true);
    SPDLOG_LOGGER_INFO(log, "stopped");
    log->flush();
    // Exit without destructors: freeing a 100 MB document tree takes seconds, and test
    // harnesses give SIGTERM only a short grace period before SIGKILL.
    std::_Exit(0);
  } catch (const std::exception& e) {
    SPDLOG_LOGGER_CRITICAL(log, "{}", e.what());
    return 1;
  }
}
