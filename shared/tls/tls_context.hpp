#pragma once
// TLS settings shared by every hop: building one immutable OpenSSL context per endpoint (CA,
// certificate, key, key check, TLS 1.2 minimum) and naming verification failures. Plain
// OpenSSL, no Asio: the config loader uses it to validate files at startup, and
// shared/net/flex_stream wraps the result for Asio.
#include <memory>
#include <stdexcept>
#include <string>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace pdl::tls {

/** A client's knobs for one hop. Paths; "" = not set. */
struct client_files {
  std::string ca_file;      // PEM bundle the server must chain to ("" = the system store)
  std::string cert_file;    // PEM certificate (chain) presented to the server (mTLS)
  std::string key_file;     // PEM private key of cert_file (unencrypted)
  bool operator==(const client_files&) const = default;
};

/** A server's knobs. cert_file and key_file come together; client_ca_file turns on mTLS. */
struct server_files {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // "" = clients need no certificate
  bool enabled() const noexcept { return !cert_file.empty() || !key_file.empty(); }
  bool operator==(const server_files&) const = default;
};

/** A file that cannot be used. which() says which knob, so callers can name the YAML key or
 *  variable; what() says why (path and OpenSSL's reason, never file contents). */
class tls_error : public std::runtime_error {
 public:
  enum class file { ca, cert, key, none };
  tls_error(file which, const std::string& message) : std::runtime_error(message), which_(which) {}
  file which() const noexcept { return which_; }

 private:
  file which_;
};

/** An immutable OpenSSL context; copies share it. Safe to use from many threads. */
class context {
 public:
  /** Certificate chain + key (checked to match), optional client CA (then clients must present
   *  a certificate it signed). TLS 1.2 minimum. @throws tls_error */
  static context server(const server_files& files);
  /** Peer verification always on: against ca_file, or the system store when empty. Optional
   *  client certificate (cert and key together, checked to match). @throws tls_error */
  static context client(const client_files& files);

  ssl_ctx_st* native() const noexcept { return ctx_.get(); }
  bool is_server() const noexcept { return server_; }

 private:
  std::shared_ptr<ssl_ctx_st> ctx_;
  bool server_ = false;
};

/** Before a client handshake: SNI (host names only) and the name or IP address the server's
 *  certificate must match (subjectAltName). */
void expect_peer_name(ssl_st* ssl, const std::string& host);

/** After a failed handshake: "certificate verify failed: <OpenSSL's reason>" when the peer's
 *  certificate was refused, else "". */
std::string verify_failure(ssl_st* ssl);

/** The oldest queued OpenSSL error as text ("" when none); clears the queue. */
std::string last_openssl_error();

}  // namespace pdl::tls
