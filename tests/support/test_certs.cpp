#include "tests/support/test_certs.hpp"

#include <fstream>
#include <stdexcept>
#include <vector>

#include "tests/support/process.hpp"

namespace pdl::test {
namespace {

void openssl(const std::vector<std::string>& args) {
  auto r = run_command("/usr/bin/env", [&] {
    std::vector<std::string> a{"openssl"};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }());
  if (r.exit_code != 0) {
    throw std::runtime_error("openssl " + args.front() + " failed: " + r.output);
  }
}

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

void make_ca(const std::string& dir, const std::string& name, const std::string& cn) {
  openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
           "-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".crt",
           "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
}

void make_leaf(const std::string& dir, const std::string& name, const std::string& cn,
               const std::string& ext) {
  const std::string base = dir + "/" + name;
  openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout",
           base + ".key", "-out", base + ".csr"});
  write(base + ".ext", ext);
  openssl({"x509", "-req", "-in", base + ".csr", "-CA", dir + "/ca.crt", "-CAkey",
           dir + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile", base + ".ext", "-out",
           base + ".crt"});
}

}  // namespace

test_certs test_certs::generate(const std::string& dir) {
  make_ca(dir, "ca", "pdl test CA");
  make_ca(dir, "other-ca", "unrelated test CA");
  make_leaf(dir, "server", "localhost",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  make_leaf(dir, "client", "pdl test client",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  openssl({"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
           dir + "/other.key"});
  test_certs c;
  c.ca_cert = dir + "/ca.crt";
  c.server_cert = dir + "/server.crt";
  c.server_key = dir + "/server.key";
  c.client_cert = dir + "/client.crt";
  c.client_key = dir + "/client.key";
  c.other_ca_cert = dir + "/other-ca.crt";
  c.other_key = dir + "/other.key";
  return c;
}

}  // namespace pdl::test
