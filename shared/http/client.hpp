#pragma once
// A blocking HTTP/1.1 client over Beast, for the CLI, the publisher library and the agent
// (which calls it from a worker thread, never from its event loop). Bodies stream through
// callbacks, so a large download or upload is never held in memory here. No proxy support
// (OPAL's clients do not use one either); OpenSSL is touched only by https URLs.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "shared/log/secret.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::http_client {

struct request {
  std::string method = "GET";
  std::string url;
  /** Header values are secrets: they never appear in an error message. */
  std::vector<std::pair<std::string, secret>> headers;
  /** In-memory body (small bodies). */
  std::optional<std::string> body;
  /** Streaming body: called until it returns 0 bytes; @p upload_size when known (-1 unknown). */
  std::function<std::size_t(char* buf, std::size_t max)> body_source;
  std::int64_t upload_size = -1;

  std::chrono::milliseconds connect_timeout{5000};
  /** Abort when no byte moved for this long (progress timeout, not a total). */
  std::chrono::milliseconds idle_timeout{10000};
  /** Total cap; zero = none. */
  std::chrono::milliseconds total_timeout{0};
  int max_redirects = 0;               // 0: do not follow
  std::uint64_t max_response_bytes = 16 * 1024 * 1024;
  std::string ca_file;                 // custom CA bundle ("" = system); peers always verified
  std::string client_cert;             // PEM certificate presented for mTLS ("" = none)
  std::string client_key;              // its PEM private key (unencrypted)
};

struct response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;                    // filled only when no body_sink was given
  std::uint64_t body_bytes = 0;
  std::string effective_url;           // after redirects
  std::optional<std::string> header(std::string_view name) const;
};

/** Outcome of a transfer that did not produce a response. */
struct transport_error {
  enum class code { connect, timeout, too_large, aborted, tls, other };
  code what;
  std::string message;                 // never contains header values or the URL's userinfo
};

/** Receives the response body chunk by chunk; return false to abort the transfer
 *  (perform() then reports transport_error::aborted). Called only for final (non-redirect)
 *  responses, after the status and headers are known (@p status). */
using body_sink = std::function<bool(long status, std::string_view chunk)>;

/** Performs one request (one connection, closed at the end). Thread-safe: each call runs on
 *  its own io_context on the calling thread. Exceptions thrown by body_source or the sink
 *  propagate out of perform(). A streamed upload (body_source) cannot be replayed, so a
 *  redirect answered to one is an error when max_redirects > 0. */
std::variant<response, transport_error> perform(const request& req, const body_sink& sink = {});

/** Copies one hop's TLS knobs (CA, client certificate and key) into @p req. */
inline void use_tls(request& req, const tls::client_files& files) {
  req.ca_file = files.ca_file;
  req.client_cert = files.cert_file;
  req.client_key = files.key_file;
}

/** URL without query string or userinfo, for logs and error messages. */
std::string redact_url(std::string_view url);

}  // namespace pdl::http_client
