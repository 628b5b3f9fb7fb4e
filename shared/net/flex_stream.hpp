#pragma once
// A TCP stream that is plaintext or TLS, chosen at run time. Like shared/net.hpp, include it only
// from .cpp files that do network I/O.
//
// Why not templates: a Beast TLS stream instantiates OpenSSL glue and every HTTP/WebSocket
// algorithm a second time per stream type. Here the TLS code is compiled once
// (flex_stream.cpp); the templates below only erase the completion handler and forward one
// buffer list, so HTTP and WebSocket code is instantiated once, for flex_stream.
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "shared/net.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl {

/** A move-only void(error_code, size_t) completion that runs on @p ex (the original handler's
 *  associated executor), keeping it busy (outstanding work) until then. */
class io_completion {
 public:
  template <class Handler>
  io_completion(Handler h, const net::any_io_executor& ex)
      : p_(std::make_unique<holder<Handler>>(std::move(h), ex)) {}
  io_completion(io_completion&&) noexcept = default;
  io_completion& operator=(io_completion&&) noexcept = default;

  void operator()(beast::error_code ec, std::size_t n) {
    auto p = std::move(p_);
    p->complete(std::move(p), ec, n);
  }

 private:
  struct base {
    virtual ~base() = default;
    virtual void complete(std::unique_ptr<base> self, beast::error_code ec, std::size_t n) = 0;
  };
  template <class Handler>
  struct holder final : base {
    holder(Handler h, const net::any_io_executor& ex)
        : handler(std::move(h)), work(net::prefer(ex, net::execution::outstanding_work.tracked)) {}
    void complete(std::unique_ptr<base> self, beast::error_code ec, std::size_t n) override {
      // Free our memory before the upcall (Asio's rule), then run on the handler's executor.
      Handler h = std::move(handler);
      net::any_io_executor ex = std::move(work);
      self.reset();
      net::dispatch(ex, beast::bind_front_handler(std::move(h), ec, n));
    }
    Handler handler;
    net::any_io_executor work;
  };
  std::unique_ptr<base> p_;
};

/**
 * An AsyncStream over beast::tcp_stream, optionally through TLS (beast::ssl_stream). Timeouts
 * (expires_after) apply to the TCP reads and writes underneath, TLS handshake included.
 * One read and one write may be outstanding at a time (as for any Asio stream).
 */
class flex_stream {
 public:
  using executor_type = net::any_io_executor;
  /** One gathered write never takes more than this many buffers (write_some may write less). */
  static constexpr std::size_t max_write_buffers = 8;
  using write_buffers = std::array<net::const_buffer, max_write_buffers>;

  /** Plaintext over an accepted or unconnected socket. */
  explicit flex_stream(tcp::socket sock);
  explicit flex_stream(const executor_type& ex);
  /** TLS with @p ctx (a server or client context): call async_handshake before any I/O. */
  flex_stream(tcp::socket sock, const tls::context& ctx);
  flex_stream(const executor_type& ex, const tls::context& ctx);
  flex_stream(flex_stream&&) noexcept;
  flex_stream& operator=(flex_stream&&) noexcept;
  ~flex_stream();

  executor_type get_executor() noexcept;
  bool is_tls() const noexcept;
  /** The TCP layer: connect, timeouts, socket. */
  beast::tcp_stream& tcp_layer() noexcept;
  tcp::socket& socket() noexcept { return tcp_layer().socket(); }
  /** A timeout for the reads and writes that follow (each op, TLS handshake included). */
  void expires_after(std::chrono::steady_clock::duration d);
  /** No timeout from here on: a plaintext stream's reads and writes then go straight to the
   *  socket, without beast::tcp_stream's per-operation timer bookkeeping (a WebSocket session,
   *  whose own timeouts are Beast's, reads and writes this way). */
  void expires_never();
  /** Closes the socket at once (no TLS close_notify): pending operations fail. A no-op on a
   *  moved-from stream (the only member that may be called on one). */
  void close();

  /** Client, TLS only, before the handshake: SNI and the name/IP the certificate must match. */
  void expect_peer_name(const std::string& host);
  /** Why the last handshake failed, in words ("certificate verify failed: ..." when the peer's
   *  certificate was refused, else the TLS/socket error); "" after a success. */
  const std::string& handshake_failure() const noexcept;

  /** TLS handshake in the given role; completes at once, successfully, for plaintext. */
  template <class Token>
  auto async_handshake(bool as_server, Token&& token) {
    return net::async_initiate<Token, void(beast::error_code)>(
        [this, as_server](auto handler) {
          auto ex = executor_for(handler);
          start_handshake(as_server, io_completion(ec_only(std::move(handler)), ex));
        },
        token);
  }

  /** TLS close_notify (the peer's answer is awaited); plaintext: shutdown(send). */
  template <class Token>
  auto async_shutdown(Token&& token) {
    return net::async_initiate<Token, void(beast::error_code)>(
        [this](auto handler) {
          auto ex = executor_for(handler);
          start_shutdown(io_completion(ec_only(std::move(handler)), ex));
        },
        token);
  }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    net::mutable_buffer first;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      first = net::mutable_buffer(*it);
      if (first.size() != 0) {
        break;
      }
    }
    return net::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this](auto handler, net::mutable_buffer b) {
          auto ex = executor_for(handler);
          start_read(b, io_completion(std::move(handler), ex));
        },
        token, first);
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    write_buffers list{};
    std::size_t n = 0;
    for (auto it = net::buffer_sequence_begin(buffers);
         it != net::buffer_sequence_end(buffers) && n < list.size(); ++it) {
      if (net::const_buffer(*it).size() != 0) {
        list[n++] = net::const_buffer(*it);
      }
    }
    return net::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this](auto handler, write_buffers l) {
          auto ex = executor_for(handler);
          start_write(l, io_completion(std::move(handler), ex));
        },
        token, list);
  }

  /** The executor @p handler completes on (its associated one, else the stream's). */
  template <class Handler>
  net::any_io_executor executor_for(const Handler& handler) {
    return net::get_associated_executor(handler, get_executor());
  }

  /** For the WebSocket teardown customization below. */
  void start_teardown(beast::role_type role, io_completion done);

  // ---- Raw writes (plaintext only) -------------------------------------------------------
  // Bytes written beside the layer above (a WebSocket session's own pre-framed frames), never
  // in the middle of one of its writes: a raw write waits while the layer above has a write in
  // flight or has written only part of what it asked, and the layer above's next write waits
  // while a raw write is unfinished. All on the stream's strand.

  /** True when raw writes are possible (a plaintext stream). */
  bool raw_writes() const noexcept;
  /** Writes what the socket takes now, without waiting (MSG_DONTWAIT): the bytes written, 0
   *  when the socket is full or a write of the layer above is unfinished. @p ec is set on a
   *  socket error. */
  std::size_t try_raw_write(const write_buffers& bufs, std::size_t count, beast::error_code& ec);
  /** Writes all of @p bufs (the first @p count) after the first @p skip bytes, in turn with
   *  the layer above's writes; @p done completes on the stream's executor. */
  void async_raw_write(const write_buffers& bufs, std::size_t count, std::size_t skip,
                       io_completion done);

 private:
  template <class Handler>
  struct ec_only_t {
    Handler h;
    void operator()(beast::error_code ec, std::size_t) { std::move(h)(ec); }
  };
  template <class Handler>
  static ec_only_t<Handler> ec_only(Handler h) {
    return ec_only_t<Handler>{std::move(h)};
  }

  void start_handshake(bool as_server, io_completion done);
  void start_shutdown(io_completion done);
  void start_read(net::mutable_buffer b, io_completion done);
  void start_write(write_buffers b, io_completion done);

  struct impl;
  std::unique_ptr<impl> impl_;
};

// Beast's customization points (found by argument-dependent lookup).
void beast_close_socket(flex_stream& s);
void teardown(beast::role_type role, flex_stream& s, beast::error_code& ec);
template <class TeardownHandler>
void async_teardown(beast::role_type role, flex_stream& s, TeardownHandler&& handler) {
  auto ex = s.executor_for(handler);
  s.start_teardown(role, io_completion(
      [h = std::forward<TeardownHandler>(handler)](beast::error_code ec, std::size_t) mutable {
        std::move(h)(ec);
      },
      ex));
}

}  // namespace pdl
