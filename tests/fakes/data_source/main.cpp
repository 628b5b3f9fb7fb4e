// fake-data-source: serves JSON documents on loopback for the agent to fetch, for tests.
// See source_options.hpp for the flags and fake_data_source.hpp for the behaviour.
// Exits 0 on SIGTERM/SIGINT, 2 on a bad flag, 1 when it cannot listen.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "shared/log/log.hpp"
#include "tests/fakes/data_source/fake_data_source.hpp"
#include "tests/fakes/opa_standin/loopback_server.hpp"

int main(int argc, char** argv) {
  pdl::fakes::source_options opts;
  try {
    opts = pdl::fakes::parse_source_args(std::vector<std::string>(argv + 1, argv + argc));
    pdl::log::init(opts.log_level);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake-data-source: %s\n", e.what());
    return 2;
  }
  auto log = pdl::log::get("fake-data-source");
  try {
    pdl::fakes::loopback_server::options server_opts;
    server_opts.addr = opts.addr;
    server_opts.bytes_per_sec = opts.bytes_per_sec;
    server_opts.logger = "fake-data-source";
    std::string port_file = opts.port_file;
    pdl::fakes::fake_data_source source(std::move(opts));
    auto server = pdl::fakes::loopback_server::create(
        server_opts,
        [&source](const pdl::fakes::http_request& req) { return source.handle(req); });
    SPDLOG_LOGGER_INFO(log, "listening on port {}", server->port());
    if (!port_file.empty()) {
      pdl::fakes::write_port_file(port_file, server->port());
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
