// opa-standin: answers OPA 1.9's data and policy API on loopback for tests, status by status
// and byte by byte (opa_emulator.hpp lists what is emulated).
// THE DOCUMENTED GAP: there is no Rego. Policies are stored as raw text and never compiled, so
// nothing is evaluated (POST /v1/data returns base documents) and policy/data conflicts are
// never reported. Usage:
//   opa-standin [--addr 127.0.0.1:0] [--port-file PATH] [--fail-writes N] [--log-level info]
//               [--write-log PATH] [--discard-data-under /PATH] [--read-buffer-bytes N]
//               [--tls-cert-file PATH --tls-private-key-file PATH]
//               [--tls-ca-cert-file PATH --authentication=tls]
// The TLS flags are OPA's (standin_flags.hpp): HTTPS only, and with --authentication=tls clients
// must present a certificate signed by the CA. --write-log (not OPA's) appends one timed line per
// write answered (write_log.hpp), for the benchmarks; --discard-data-under (not OPA's either)
// answers data writes under that path 204 without storing them (opa_emulator.hpp), and
// --read-buffer-bytes (neither) reads large bodies in larger pieces (loopback_server.hpp).
// Exits 0 on SIGTERM/SIGINT, 2 on a bad flag, 1 when it cannot listen.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "shared/log/log.hpp"
#include "tests/fakes/opa_standin/loopback_server.hpp"
#include "tests/fakes/opa_standin/opa_emulator.hpp"
#include "tests/fakes/opa_standin/standin_flags.hpp"
#include "tests/fakes/opa_standin/write_log.hpp"

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "opa-standin: %s\n%s\n", why.c_str(), pdl::fakes::standin_usage());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  pdl::fakes::standin_flags f;
  std::optional<pdl::tls::context> tls;
  try {
    f = pdl::fakes::parse_standin_flags(std::vector<std::string>(argv + 1, argv + argc));
    tls = pdl::fakes::standin_tls_context(f);
  } catch (const pdl::fakes::flag_error& e) {
    usage(e.what());
  }
  try {
    pdl::log::init(f.log_level);
  } catch (const std::exception& e) {
    usage(e.what());
  }
  auto log = pdl::log::get("opa-standin");
  try {
    pdl::fakes::opa_emulator emulator(
        {.fail_writes = f.fail_writes, .discard_data_under = f.discard_data_under});
    std::optional<pdl::fakes::write_log> writes;
    if (!f.write_log.empty()) {
      writes.emplace(f.write_log);
    }
    auto server = pdl::fakes::loopback_server::create(
        {.addr = f.addr,
         .logger = "opa-standin",
         .read_buffer_bytes = f.read_buffer_bytes,
         .tls = tls},
        [&emulator, &writes](const pdl::fakes::http_request& req) {
          if (!writes || (req.method != "PUT" && req.method != "PATCH" && req.method != "DELETE")) {
            return emulator.handle(req);
          }
          auto received = pdl::fakes::write_log::now_ns();
          auto res = emulator.handle(req);
          writes->record(pdl::fakes::write_log::now_ns(), req.method, req.path(), req.body.size(),
                         res.status, received);
          return res;
        });
    SPDLOG_LOGGER_INFO(log, "listening on port {} ({}{})", server->port(),
                       tls ? "https" : "http", f.mtls() ? ", client certificates required" : "");
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
