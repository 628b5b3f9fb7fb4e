#include "shared/tls/tls_context.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace pdl::tls {
namespace {

using file = tls_error::file;

std::shared_ptr<ssl_ctx_st> new_ctx(const SSL_METHOD* method) {
  std::shared_ptr<ssl_ctx_st> ctx(SSL_CTX_new(method), SSL_CTX_free);
  if (!ctx) {
    throw tls_error(file::none, "cannot create a TLS context: " + last_openssl_error());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // No renegotiation and no compression: old attack surfaces we never need.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  return ctx;
}

/** Names the unreadable path with errno's text; OpenSSL's messages for a missing file are
 *  cryptic ("system lib"). */
void require_readable(file which, const std::string& kind, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw tls_error(which, "cannot read " + kind + " '" + path + "': " + std::strerror(errno));
  }
}

void load_pair(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (cert.empty() != key.empty()) {
    throw tls_error(cert.empty() ? file::cert : file::key,
                    cert.empty() ? "a private key is set but no certificate"
                                 : "a certificate is set but no private key");
  }
  if (cert.empty()) {
    return;
  }
  require_readable(file::cert, "certificate file", cert);
  require_readable(file::key, "private key file", key);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    throw tls_error(file::cert, "'" + cert + "' is not a PEM certificate: " + last_openssl_error());
  }
  // No passphrase callback: an encrypted key fails here instead of prompting on a terminal.
  SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) { return 0; });
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL compares the key with the certificate while loading it.
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      throw tls_error(file::key, "the private key '" + key +
                                     "' does not match the certificate '" + cert + "'");
    }
    throw tls_error(file::key, "'" + key + "' is not an unencrypted PEM private key: " +
                                   last_openssl_error());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    throw tls_error(file::key, "the private key '" + key + "' does not match the certificate '" +
                                   cert + "'");
  }
}

void load_ca(SSL_CTX* ctx, file which, const std::string& ca) {
  require_readable(which, "CA file", ca);
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    throw tls_error(which, "'" + ca + "' is not a PEM CA bundle: " + last_openssl_error());
  }
}

}  // namespace

std::string last_openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return "";
  }
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "error " + std::to_string(e);
}

context context::server(const server_files& files) {
  if (files.cert_file.empty() && files.key_file.empty()) {
    throw tls_error(file::cert, "TLS needs a certificate and a private key");
  }
  context c;
  c.server_ = true;
  c.ctx_ = new_ctx(TLS_server_method());
  load_pair(c.ctx_.get(), files.cert_file, files.key_file);
  if (!files.client_ca_file.empty()) {
    load_ca(c.ctx_.get(), file::ca, files.client_ca_file);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (names != nullptr) {
      SSL_CTX_set_client_CA_list(c.ctx_.get(), names);  // takes ownership
    }
    SSL_CTX_set_verify(c.ctx_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return c;
}

context context::client(const client_files& files) {
  context c;
  c.ctx_ = new_ctx(TLS_client_method());
  if (!files.ca_file.empty()) {
    load_ca(c.ctx_.get(), file::ca, files.ca_file);
  } else if (SSL_CTX_set_default_verify_paths(c.ctx_.get()) != 1) {
    throw tls_error(file::ca, "cannot load the system CA store: " + last_openssl_error());
  }
  load_pair(c.ctx_.get(), files.cert_file, files.key_file);
  SSL_CTX_set_verify(c.ctx_.get(), SSL_VERIFY_PEER, nullptr);
  return c;
}

void expect_peer_name(ssl_st* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  // An IP literal must match an IP SAN; anything else is a DNS name (and gets SNI).
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1) {
    return;
  }
  ERR_clear_error();
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  SSL_set1_host(ssl, host.c_str());
  SSL_set_tlsext_host_name(ssl, host.c_str());
}

std::string verify_failure(ssl_st* ssl) {
  const long r = SSL_get_verify_result(ssl);
  if (r == X509_V_OK) {
    return "";
  }
  return std::string("certificate verify failed: ") + X509_verify_cert_error_string(r);
}

}  // namespace pdl::tls
