// The one translation unit with Beast's TLS stream in it (see flex_stream.hpp for why).
#include "shared/net/flex_stream.hpp"

#include <optional>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>
#include <cerrno>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>

namespace pdl {
namespace {

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

/** Asio's context owns one reference of the SSL_CTX; each SSL made from it takes its own, so
 *  this wrapper may go as soon as the stream is built. */
std::unique_ptr<tls_stream> make_tls(beast::tcp_stream tcp, const tls::context& ctx) {
  SSL_CTX_up_ref(ctx.native());
  net::ssl::context asio_ctx(ctx.native());
  return std::make_unique<tls_stream>(std::move(tcp), asio_ctx);
}

}  // namespace

struct flex_stream::impl {
  explicit impl(beast::tcp_stream t) : plain(std::move(t)) {}
  impl(beast::tcp_stream t, const tls::context& ctx) : tls(make_tls(std::move(t), ctx)) {}

  beast::tcp_stream& tcp_layer() { return tls ? tls->next_layer() : *plain; }

  std::optional<beast::tcp_stream> plain;
  std::unique_ptr<tls_stream> tls;
  std::string failure;
  bool untimed = false;  // expires_never() was the last word: plain I/O skips tcp_stream

  // The write arbiter (raw writes beside the layer above; plaintext only).
  bool above_writing = false;  // a write_some of the layer above is in flight
  bool above_partial = false;  // its last write_some wrote less than asked: more will follow
  bool raw_writing = false;    // an async_raw_write is unfinished
  struct waiting_write {
    write_buffers bufs{};
    std::size_t count = 0;
    std::size_t skip = 0;
    io_completion done;
  };
  std::optional<waiting_write> above_waiting;  // the layer above's write, behind a raw one
  std::optional<waiting_write> raw_waiting;    // a raw write, behind the layer above's
};

flex_stream::flex_stream(tcp::socket sock)
    : impl_(std::make_unique<impl>(beast::tcp_stream(std::move(sock)))) {}
flex_stream::flex_stream(const executor_type& ex)
    : impl_(std::make_unique<impl>(beast::tcp_stream(ex))) {}
flex_stream::flex_stream(tcp::socket sock, const tls::context& ctx)
    : impl_(std::make_unique<impl>(beast::tcp_stream(std::move(sock)), ctx)) {}
flex_stream::flex_stream(const executor_type& ex, const tls::context& ctx)
    : impl_(std::make_unique<impl>(beast::tcp_stream(ex), ctx)) {}
flex_stream::flex_stream(flex_stream&&) noexcept = default;
flex_stream& flex_stream::operator=(flex_stream&&) noexcept = default;
flex_stream::~flex_stream() = default;

flex_stream::executor_type flex_stream::get_executor() noexcept {
  return impl_->tcp_layer().get_executor();
}
bool flex_stream::is_tls() const noexcept { return impl_->tls != nullptr; }
beast::tcp_stream& flex_stream::tcp_layer() noexcept { return impl_->tcp_layer(); }

void flex_stream::expires_after(std::chrono::steady_clock::duration d) {
  impl_->untimed = false;
  tcp_layer().expires_after(d);
}

void flex_stream::expires_never() {
  impl_->untimed = true;
  tcp_layer().expires_never();
}

void flex_stream::close() {
  if (!impl_) {
    return;  // moved from
  }
  beast::error_code ignored;
  socket().close(ignored);
}

void flex_stream::expect_peer_name(const std::string& host) {
  if (impl_->tls) {
    tls::expect_peer_name(impl_->tls->native_handle(), host);
  }
}

const std::string& flex_stream::handshake_failure() const noexcept { return impl_->failure; }

void flex_stream::start_handshake(bool as_server, io_completion done) {
  impl_->failure.clear();
  if (!impl_->tls) {
    net::post(get_executor(), [d = std::move(done)]() mutable { d({}, 0); });
    return;
  }
  auto type = as_server ? net::ssl::stream_base::server : net::ssl::stream_base::client;
  impl_->tls->async_handshake(type, [this, d = std::move(done)](beast::error_code ec) mutable {
    if (ec) {
      std::string reason = tls::verify_failure(impl_->tls->native_handle());
      if (reason.empty()) {
        reason = ec == beast::error::timeout ? "TLS handshake timed out" : ec.message();
      }
      impl_->failure = std::move(reason);
    }
    d(ec, 0);
  });
}

void flex_stream::start_shutdown(io_completion done) {
  if (!impl_->tls) {
    beast::error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    net::post(get_executor(), [d = std::move(done), ec]() mutable { d(ec, 0); });
    return;
  }
  impl_->tls->async_shutdown(
      [d = std::move(done)](beast::error_code ec) mutable { d(ec, 0); });
}

void flex_stream::start_read(net::mutable_buffer b, io_completion done) {
  auto cb = [d = std::move(done)](beast::error_code ec, std::size_t n) mutable { d(ec, n); };
  if (impl_->tls) {
    impl_->tls->async_read_some(b, std::move(cb));
  } else if (impl_->untimed) {
    impl_->plain->socket().async_read_some(b, std::move(cb));
  } else {
    impl_->plain->async_read_some(b, std::move(cb));
  }
}

namespace {

std::size_t buffers_size(const flex_stream::write_buffers& b, std::size_t count) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < count; ++i) {
    n += b[i].size();
  }
  return n;
}

/** @p b (the first @p count) minus its first @p skip bytes. */
std::vector<net::const_buffer> tail_of(const flex_stream::write_buffers& b, std::size_t count,
                                       std::size_t skip) {
  std::vector<net::const_buffer> out;
  for (std::size_t i = 0; i < count; ++i) {
    if (skip >= b[i].size()) {
      skip -= b[i].size();
      continue;
    }
    out.push_back(b[i] + skip);
    skip = 0;
  }
  return out;
}

}  // namespace

void flex_stream::start_write(write_buffers b, io_completion done) {
  if (impl_->tls) {
    impl_->tls->async_write_some(
        b, [d = std::move(done)](beast::error_code ec, std::size_t n) mutable { d(ec, n); });
    return;
  }
  std::size_t count = 0;
  while (count < b.size() && b[count].size() != 0) {
    ++count;
  }
  if (impl_->raw_writing) {
    impl_->above_waiting.emplace(impl::waiting_write{b, count, 0, std::move(done)});
    return;
  }
  const std::size_t asked = buffers_size(b, count);
  impl_->above_writing = true;
  auto cb = [this, asked, d = std::move(done)](beast::error_code ec, std::size_t n) mutable {
    impl_->above_writing = false;
    impl_->above_partial = !ec && n < asked;
    if (!impl_->above_partial && impl_->raw_waiting) {
      auto w = std::move(*impl_->raw_waiting);
      impl_->raw_waiting.reset();
      async_raw_write(w.bufs, w.count, w.skip, std::move(w.done));
    }
    d(ec, n);
  };
  if (impl_->untimed) {
    impl_->plain->socket().async_write_some(b, std::move(cb));
  } else {
    impl_->plain->async_write_some(b, std::move(cb));
  }
}

bool flex_stream::raw_writes() const noexcept { return impl_->tls == nullptr; }

std::size_t flex_stream::try_raw_write(const write_buffers& bufs, std::size_t count,
                                       beast::error_code& ec) {
  ec = {};
  if (impl_->tls || impl_->above_writing || impl_->above_partial || impl_->raw_writing) {
    return 0;
  }
  std::array<iovec, max_write_buffers> iov{};
  for (std::size_t i = 0; i < count; ++i) {
    iov[i].iov_base = const_cast<void*>(bufs[i].data());
    iov[i].iov_len = bufs[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  for (;;) {
    const ssize_t n = ::sendmsg(socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = beast::error_code(errno, boost::system::system_category());
    }
    return 0;
  }
}

void flex_stream::async_raw_write(const write_buffers& bufs, std::size_t count, std::size_t skip,
                                  io_completion done) {
  if (impl_->above_writing || impl_->above_partial) {
    impl_->raw_waiting.emplace(impl::waiting_write{bufs, count, skip, std::move(done)});
    return;
  }
  impl_->raw_writing = true;
  net::async_write(socket(), tail_of(bufs, count, skip),
                   [this, d = std::move(done)](beast::error_code ec, std::size_t n) mutable {
                     impl_->raw_writing = false;
                     if (impl_->above_waiting) {
                       auto w = std::move(*impl_->above_waiting);
                       impl_->above_waiting.reset();
                       start_write(w.bufs, std::move(w.done));
                     }
                     d(ec, n);
                   });
}

void flex_stream::start_teardown(beast::role_type role, io_completion done) {
  using boost::beast::websocket::async_teardown;
  auto cb = [d = std::move(done)](beast::error_code ec) mutable { d(ec, 0); };
  if (impl_->tls) {
    async_teardown(role, *impl_->tls, std::move(cb));
  } else {
    async_teardown(role, *impl_->plain, std::move(cb));
  }
}

void beast_close_socket(flex_stream& s) { s.close(); }

void teardown(beast::role_type, flex_stream& s, beast::error_code& ec) {
  // Only the synchronous WebSocket API calls this, and we never use it: just close.
  s.socket().close(ec);
}

}  // namespace pdl
