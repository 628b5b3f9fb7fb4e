#pragma once
// opa-standin's command line: the stand-in's own flags plus OPA's TLS flags (same names and
// meaning as `opa run --server`), validated up front so a bad combination exits 2 with a message
// naming the flag.
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/tls/tls_context.hpp"

namespace pdl::fakes {

struct standin_flags {
  std::string addr = "127.0.0.1:0";
  std::string port_file;
  std::size_t fail_writes = 0;
  std::string log_level = "info";
  /** --write-log: append one line per data/policy write answered (write_log.hpp), for the
   *  benchmarks' "visible in the store" timings. Empty: no log. Not an OPA flag. */
  std::string write_log;
  /** --discard-data-under /PATH: data PUTs and PATCHes at or under /v1/data/PATH are answered
   *  204 and dropped, never stored (opa_emulator::options::discard_data_under), so a benchmark
   *  can run a hundred stand-ins that each receive a large document. Empty: none. Not an OPA
   *  flag. */
  std::string discard_data_under;
  /** --read-buffer-bytes N: loopback_server::options::read_buffer_bytes (0, the default: Beast's
   *  own, which reads large bodies a few KiB at a time). Not an OPA flag. */
  std::size_t read_buffer_bytes = 0;
  // OPA's: with a certificate and key the stand-in serves HTTPS only.
  std::string tls_cert_file;         // --tls-cert-file
  std::string tls_private_key_file;  // --tls-private-key-file
  std::string tls_ca_cert_file;      // --tls-ca-cert-file: used only with --authentication=tls
  std::string authentication = "off";  // --authentication: off | tls ("token" is not emulated)

  bool tls_enabled() const noexcept { return !tls_cert_file.empty(); }
  bool mtls() const noexcept { return authentication == "tls"; }
};

/** A flag the stand-in cannot use; what() names the flag and says why. */
class flag_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/** Largest --read-buffer-bytes. */
inline constexpr std::size_t max_read_buffer_bytes = 16u * 1024 * 1024;

/** Longest value any flag accepts (paths, addresses). */
inline constexpr std::size_t max_flag_value = 4096;

/**
 * Parses argv[1..] ("--flag value" or "--flag=value"). Checks, like OPA: certificate and key
 * come together; --authentication is off or tls; tls needs the certificate, the key and
 * --tls-ca-cert-file (real OPA would fall back to the system roots: a test fake refuses instead,
 * so a test cannot pass by accident). "--help" throws flag_error("help").
 * @throws flag_error
 */
standin_flags parse_standin_flags(const std::vector<std::string>& args);

/**
 * The server context for @p f, or nullopt without --tls-cert-file. With --authentication=tls
 * clients must present a certificate signed by --tls-ca-cert-file.
 * @throws flag_error naming the flag whose file cannot be used (path and reason, no contents).
 */
std::optional<tls::context> standin_tls_context(const standin_flags& f);

/** The usage line printed with every flag error. */
const char* standin_usage();

}  // namespace pdl::fakes
