#pragma once
// TLS material for tests, generated with the `openssl` command line into a directory: a CA, a
// server certificate it signed (SAN IP:127.0.0.1 and DNS:localhost), a client certificate it
// signed, and an unrelated second CA (for "wrong CA" cases). Shared by unit and integration
// tests. RSA 2048, valid 2 days.
#include <string>

namespace pdl::test {

struct test_certs {
  std::string ca_cert;        // the CA that signed server and client
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string other_ca_cert;  // an unrelated CA
  std::string other_key;      // a key that matches none of the certificates above

  /** Generates everything under @p dir (which must exist). @throws std::runtime_error with
   *  openssl's output when a step fails. */
  static test_certs generate(const std::string& dir);
};

}  // namespace pdl::test
