#include "tests/fakes/opa_standin/standin_flags.hpp"

#include <string_view>

namespace pdl::fakes {
namespace {

std::size_t parse_count(const std::string& flag, const std::string& n) {
  try {
    std::size_t used = 0;
    if (n.empty() || n.front() == '-') {
      throw std::invalid_argument(n);
    }
    std::size_t v = std::stoul(n, &used);
    if (used == n.size()) {
      return v;
    }
  } catch (const std::exception&) {
  }
  throw flag_error(flag + " needs a non-negative integer, got '" + n + "'");
}

}  // namespace

const char* standin_usage() {
  return "usage: opa-standin [--addr HOST:PORT] [--port-file PATH] [--fail-writes N] "
         "[--log-level LEVEL] [--write-log PATH] [--discard-data-under /PATH] [--read-buffer-bytes N] [--tls-cert-file PATH --tls-private-key-file PATH] "
         "[--tls-ca-cert-file PATH] [--authentication off|tls]";
}

standin_flags parse_standin_flags(const std::vector<std::string>& args) {
  standin_flags f;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> std::string {
      std::string v;
      if (inline_value) {
        v = *inline_value;
      } else if (i + 1 < args.size()) {
        v = args[++i];
      } else {
        throw flag_error(flag + " needs a value");
      }
      if (v.size() > max_flag_value) {
        throw flag_error(flag + " value is longer than " + std::to_string(max_flag_value) +
                         " characters");
      }
      return v;
    };
    if (flag == "--addr") {
      f.addr = value();
    } else if (flag == "--port-file") {
      f.port_file = value();
    } else if (flag == "--fail-writes") {
      f.fail_writes = parse_count(flag, value());
    } else if (flag == "--log-level") {
      f.log_level = value();
    } else if (flag == "--write-log") {
      f.write_log = value();
    } else if (flag == "--discard-data-under") {
      f.discard_data_under = value();
      if (f.discard_data_under.size() < 2 || f.discard_data_under.front() != '/' ||
          f.discard_data_under.back() == '/') {
        throw flag_error("--discard-data-under needs a data path below the root like /bench, "
                         "got '" + f.discard_data_under + "'");
      }
    } else if (flag == "--read-buffer-bytes") {
      f.read_buffer_bytes = parse_count(flag, value());
      if (f.read_buffer_bytes > max_read_buffer_bytes) {
        throw flag_error("--read-buffer-bytes is at most " +
                         std::to_string(max_read_buffer_bytes));
      }
    } else if (flag == "--tls-cert-file") {
      f.tls_cert_file = value();
    } else if (flag == "--tls-private-key-file") {
      f.tls_private_key_file = value();
    } else if (flag == "--tls-ca-cert-file") {
      f.tls_ca_cert_file = value();
    } else if (flag == "--authentication") {
      f.authentication = value();
    } else if ((flag == "--help" || flag == "-h") && !inline_value) {
      throw flag_error("help");
    } else {
      throw flag_error("unknown argument '" + flag + "'");
    }
  }
  if (f.tls_cert_file.empty() != f.tls_private_key_file.empty()) {
    throw flag_error(f.tls_cert_file.empty()
                         ? "--tls-private-key-file needs --tls-cert-file"
                         : "--tls-cert-file needs --tls-private-key-file");
  }
  if (f.authentication == "token") {
    throw flag_error("--authentication=token is not emulated (only off and tls)");
  }
  if (f.authentication != "off" && f.authentication != "tls") {
    throw flag_error("--authentication must be off or tls, got '" + f.authentication + "'");
  }
  if (f.mtls() && !f.tls_enabled()) {
    throw flag_error("--authentication=tls needs --tls-cert-file and --tls-private-key-file");
  }
  if (f.mtls() && f.tls_ca_cert_file.empty()) {
    throw flag_error("--authentication=tls needs --tls-ca-cert-file (the CA client "
                     "certificates must chain to)");
  }
  return f;
}

std::optional<tls::context> standin_tls_context(const standin_flags& f) {
  if (!f.tls_enabled()) {
    return std::nullopt;
  }
  // Like OPA, the CA file matters only for TLS authentication.
  tls::server_files files{f.tls_cert_file, f.tls_private_key_file,
                          f.mtls() ? f.tls_ca_cert_file : std::string()};
  try {
    return tls::context::server(files);
  } catch (const tls::tls_error& e) {
    std::string_view flag = "TLS";
    if (e.which() == tls::tls_error::file::cert) {
      flag = "--tls-cert-file";
    } else if (e.which() == tls::tls_error::file::key) {
      flag = "--tls-private-key-file";
    } else if (e.which() == tls::tls_error::file::ca) {
      flag = "--tls-ca-cert-file";
    }
    throw flag_error(std::string(flag) + ": " + e.what());
  }
}

}  // namespace pdl::fakes
