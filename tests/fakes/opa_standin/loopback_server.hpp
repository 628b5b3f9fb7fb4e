#pragma once
// A small HTTP/1.1 server for the test fakes: one io_context on one thread, one coroutine per
// connection, keep-alive, "Expect: 100-continue", request size limits. It hands each complete
// request to a synchronous handler and writes back what the handler returns (optionally
// throttled, or never, for timeout tests). Optionally HTTPS only (and mTLS), like OPA with
// --tls-cert-file. Beast stays inside the .cpp; TLS goes through shared/net/flex_stream.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "shared/tls/tls_context.hpp"

#include "tests/fakes/opa_standin/http_types.hpp"

namespace pdl::fakes {

class loopback_server {
 public:
  /** Called on the server thread for every complete request; may throw (the client then gets
   *  500 and the error is logged). */
  using handler = std::function<http_response(const http_request&)>;

  struct options {
    std::string addr = "127.0.0.1:0";  // host:port; port 0 picks a free port
    std::size_t body_limit = 256u * 1024 * 1024;  // larger bodies: 413, connection closed
    std::size_t header_limit = 64u * 1024;        // larger headers: 431, connection closed
    std::size_t bytes_per_sec = 0;                // 0: write responses at full speed
    std::string logger = "fake.http";             // one line per request, never a body
    /** > 0: each connection's read buffer starts with this capacity, so a large body is read
     *  up to 64 KiB at a time. 0: Beast's default, a buffer only as large as the largest head
     *  seen, so a body is read a few KiB at a time (a few ms of CPU per MB received). */
    std::size_t read_buffer_bytes = 0;
    /** Set: every connection is TLS (a plaintext client fails the handshake and is closed).
     *  A server context built with a client CA also requires a client certificate it signed;
     *  a failed handshake is logged with its reason and the connection closed. */
    std::optional<tls::context> tls{};
  };

  /** Binds and listens on opts.addr; serves nothing until run().
   *  @throws std::runtime_error naming the address when it cannot listen. */
  static std::unique_ptr<loopback_server> create(options opts, handler h);

  ~loopback_server();
  loopback_server(const loopback_server&) = delete;
  loopback_server& operator=(const loopback_server&) = delete;

  /** The bound port (known as soon as create() returns). */
  std::uint16_t port() const noexcept;

  /** Serves on the calling thread until stop() or, with @p handle_signals, SIGINT/SIGTERM.
   *  Returns once every connection is closed. Call at most once. */
  void run(bool handle_signals = false);

  /** Thread-safe and idempotent: closes the listener and every connection (hanging ones
   *  included), so run() returns. May be called before run(). */
  void stop();

 /** Implementation detail (Beast types), defined in the .cpp only. */
  struct impl;

 private:
  explicit loopback_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/** Writes "<port>\n" to @p path atomically (a temporary file renamed over it), so a reader
 *  never sees a partial number. @throws std::runtime_error on I/O failure. */
void write_port_file(const std::string& path, std::uint16_t port);

}  // namespace pdl::fakes
