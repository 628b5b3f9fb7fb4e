#include "server/http_listener.hpp"

#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "server/async_dispatch.hpp"
#include "server/handlers.hpp"
#include "server/routes.hpp"
#include "server/server_context.hpp"
#include "server/ws_session.hpp"
#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"
#include "shared/net/flex_stream.hpp"
#include "shared/net/offload.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.http");
  return l;
}

// Lingering close (nginx's lingering_close). An answer given before the body is read (413,
// 431, 400, 401/403) is written, then what the client still sends is read and dropped, and only
// then is the socket closed. Many clients (Python's urllib, most SDKs) write the whole body
// before they read: closing earlier fails their write with EPIPE/ECONNRESET, and closing with
// unread data makes the kernel answer with RST, which can destroy the answer not read yet. The
// socket's send side stays open while draining for the same reason. Bounded in bytes (the rest
// of an announced body, at most linger_max_bytes) and time (linger_idle without data, at most
// linger_total in all).
constexpr std::uint64_t linger_max_bytes = 128 * 1024 * 1024;
constexpr auto linger_idle = std::chrono::seconds(5);
constexpr auto linger_total = std::chrono::seconds(30);

// Above this announced size (or chunked), the route's before_body check (the Authorization
// header) runs before the body is read. Small bodies are read first: checking twice would cost
// publishes a second signature verification.
constexpr std::uint64_t check_before_body_bytes = 64 * 1024;

/** One of limits.max_connections, held by the connection from accept on and given back when
 *  the connection object goes, however its coroutine ended (or if it never ran). */
class connection_slot {
 public:
  explicit connection_slot(std::atomic<std::int64_t>& open) noexcept : open_(open) { ++open_; }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  ~connection_slot() { --open_; }

 private:
  std::atomic<std::int64_t>& open_;
};

struct http_conn {
  http_conn(std::atomic<std::int64_t>& open, tcp::socket s) : slot(open), stream(std::move(s)) {}
  http_conn(std::atomic<std::int64_t>& open, tcp::socket s, const tls::context& ctx)
      : slot(open), stream(std::move(s), ctx) {}
  connection_slot slot;  // first: given back after the stream is closed
  flex_stream stream;    // TLS when the server has a certificate
  std::string peer;
};

/** A request the parser refused as malformed (answered 400), as opposed to a peer that left. */
bool is_bad_request(const beast::error_code& ec) {
  using e = http::error;
  for (e bad : {e::bad_line_ending, e::bad_method, e::bad_target, e::bad_version, e::bad_field,
                e::bad_value, e::bad_content_length, e::bad_transfer_encoding, e::bad_chunk,
                e::bad_chunk_extension, e::bad_obs_fold}) {
    if (ec == bad) {
      return true;
    }
  }
  return false;
}

std::string endpoint_text(const tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) {
    return "?";
  }
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

http::response<http::string_body> to_beast(http_reply reply, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
  res.set(http::field::server, "pdl-opal-server");
  if (!reply.body.empty() || reply.status != 307) {
    res.set(http::field::content_type, reply.content_type);
  }
  for (auto& [name, value] : reply.headers) {
    res.set(name, value);
  }
  res.body() = std::move(reply.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

http_request to_plain(const http::request<http::string_body>& req, const std::string& peer) {
  // The head only when called before the body is read (the body is then empty).
  http_request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) {
    r.query = r.target.substr(q + 1);
  }
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    r.authorization = std::string(it->value());
  }
  r.body = req.body();
  r.peer = peer;
  return r;
}

}  // namespace

struct http_listener::impl : std::enable_shared_from_this<http_listener::impl> {
  impl(server_context& c, net::io_context& i)
      : ctx(c),
        ioc(i),
        acceptor(net::make_strand(i)),
        lanes(i, lanes_per_thread * static_cast<std::size_t>(std::max(1, c.cfg.threads))) {}

  // A few lanes per I/O thread: a fan-out is spread over every thread, and one busy session
  // (a large frame to parse) holds up only its lane's share.
  static constexpr std::size_t lanes_per_thread = 4;

  server_context& ctx;
  net::io_context& ioc;
  tcp::acceptor acceptor;
  ws_lanes lanes;
  std::optional<tls::context> tls;  // set when cfg.tls has a certificate
  std::mutex mu;
  std::map<std::uint64_t, std::weak_ptr<http_conn>> conns;  // guarded by mu
  std::uint64_t next_id = 0;                                 // guarded by mu
  bool stopped = false;                                      // guarded by mu

  /** A connection's entry in `conns` (for stop()), removed when this goes, or earlier by
   *  release() (a WebSocket session takes the stream over). */
  class tracked {
   public:
    tracked(impl& owner, const std::shared_ptr<http_conn>& c) : owner_(&owner) {
      std::lock_guard lock(owner.mu);
      id_ = ++owner.next_id;
      owner.conns[id_] = c;
    }
    tracked(const tracked&) = delete;
    tracked& operator=(const tracked&) = delete;
    ~tracked() { release(); }
    void release() {
      if (owner_ != nullptr) {
        std::lock_guard lock(owner_->mu);
        owner_->conns.erase(id_);
        owner_ = nullptr;
      }
    }

   private:
    impl* owner_;
    std::uint64_t id_ = 0;
  };

  static net::awaitable<void> accept_loop(std::shared_ptr<impl> self);
  static net::awaitable<void> serve(std::shared_ptr<impl> self, std::shared_ptr<http_conn> conn);
  /** Writes @p reply (Connection: close), then lingers (see linger_max_bytes) and closes.
   *  @param body_left what remains of an announced body, nullopt: unknown (read to EOF). */
  static net::awaitable<void> answer_early(const server_context& ctx, http_conn& conn,
                                           beast::flat_buffer& buffer, http_reply reply,
                                           std::optional<std::uint64_t> body_left);
  static net::awaitable<void> linger_close(http_conn& conn,
                                           std::optional<std::uint64_t> body_left);
  /** Writes @p reply, whose body is reply.file: the head, then the file in chunks, each read on
   *  the read pool (a disk read never holds the I/O thread). @p ec: the first write's error. */
  static net::awaitable<void> send_file(server_context& ctx, http_conn& conn, http_reply reply,
                                        unsigned version, bool keep_alive, beast::error_code& ec);
  /** send_file's body on a plaintext connection: sendfile(2) calls on the read pool. */
  static net::awaitable<void> send_file_plain(server_context& ctx, http_conn& conn,
                                              const reply_file& file, beast::error_code& ec);
};

net::awaitable<void> http_listener::impl::accept_loop(std::shared_ptr<impl> self) {
  auto& stats = self->ctx.stats;
  for (;;) {
    tcp::socket sock(net::make_strand(self->ioc));
    beast::error_code ec;
    co_await self->acceptor.async_accept(sock, net::redirect_error(net::use_awaitable, ec));
    if (!self->acceptor.is_open() || ec == net::error::operation_aborted) {
      co_return;
    }
    if (ec) {
      logger()->warn("accept failed: {}", ec.message());
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space) {
        // Out of file descriptors: give the running connections a moment to finish.
        net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(100));
        co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      }
      continue;
    }
    if (stats.open_connections.load() >= static_cast<std::int64_t>(self->ctx.cfg.max_connections)) {
      if (++stats.connections_refused % 1000 == 1) {
        logger()->warn("connection limit ({}) reached: refusing connections ({} so far)",
                       self->ctx.cfg.max_connections, stats.connections_refused.load());
      }
      sock.close(ec);
      continue;
    }
    // Notifies are small frames: without this, one written while the previous frame's ACK is
    // delayed waits for it (Nagle + delayed ACK, up to 40 ms; measured in bench/).
    sock.set_option(tcp::no_delay(true), ec);
    auto& open_count = stats.open_connections;
    auto conn = self->tls ? std::make_shared<http_conn>(open_count, std::move(sock), *self->tls)
                          : std::make_shared<http_conn>(open_count, std::move(sock));
    conn->peer = endpoint_text(conn->stream.socket());
    auto ex = conn->stream.get_executor();
    // The handlers' exceptions are answered 500 inside dispatch(); this catches the rest (the
    // connection's slot and tracking go with the coroutine's frame).
    net::co_spawn(ex, serve(self, conn), [peer = conn->peer](std::exception_ptr e) {
      if (!e) {
        return;
      }
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        logger()->error("connection from {} failed: {}", peer, ex.what());
      } catch (...) {
        logger()->error("connection from {} failed: an exception of unknown type", peer);
      }
    });
  }
}

net::awaitable<void> http_listener::impl::answer_early(const server_context& ctx, http_conn& conn,
                                                       beast::flat_buffer& buffer,
                                                       http_reply reply,
                                                       std::optional<std::uint64_t> body_left) {
  if (body_left) {
    // What the parser buffered past the head is part of the body.
    *body_left -= std::min<std::uint64_t>(*body_left, buffer.size());
  }
  buffer.consume(buffer.size());
  auto res = to_beast(std::move(reply), 11, false);
  beast::error_code ec;
  conn.stream.expires_after(ctx.cfg.http_read_timeout);
  co_await http::async_write(conn.stream, res, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    conn.stream.close();
    co_return;
  }
  co_await linger_close(conn, body_left);
}

net::awaitable<void> http_listener::impl::linger_close(http_conn& conn,
                                                       std::optional<std::uint64_t> body_left) {
  const std::uint64_t budget = std::min(body_left.value_or(linger_max_bytes), linger_max_bytes);
  const auto deadline = std::chrono::steady_clock::now() + linger_total;
  std::vector<char> sink(64 * 1024);
  std::uint64_t drained = 0;
  beast::error_code ec;
  while (drained < budget) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      break;
    }
    // Reset by every read: a client still sending keeps the connection, a quiet one loses it.
    conn.stream.expires_after(std::min<std::chrono::steady_clock::duration>(linger_idle, left));
    std::size_t n = co_await conn.stream.async_read_some(
        net::buffer(sink.data(), std::min<std::uint64_t>(sink.size(), budget - drained)),
        net::redirect_error(net::use_awaitable, ec));
    drained += n;
    if (ec) {
      break;  // the client closed (it has read the answer), or gone quiet, or gone
    }
  }
  if (!ec) {
    conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
  conn.stream.close();
}

net::awaitable<void> http_listener::impl::send_file(server_context& ctx, http_conn& conn,
                                                    http_reply reply, unsigned version,
                                                    bool keep_alive, beast::error_code& ec) {
  const std::shared_ptr<const reply_file> file = std::move(reply.file);
  http::response<http::empty_body> res{static_cast<http::status>(reply.status), version};
  res.set(http::field::server, "pdl-opal-server");
  res.set(http::field::content_type, reply.content_type);
  for (auto& [name, value] : reply.headers) {
    res.set(name, value);
  }
  res.content_length(file->size());
  res.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> head{res};
  conn.stream.expires_after(ctx.cfg.http_read_timeout);
  co_await http::async_write_header(conn.stream, head, net::redirect_error(net::use_awaitable, ec));
  if (!ec && !conn.stream.is_tls()) {
    co_await send_file_plain(ctx, conn, *file, ec);
    co_return;
  }
  // TLS: the bytes must go through the TLS layer, so they are read into a buffer first.
  constexpr std::size_t chunk = 64 * 1024;
  std::vector<char> buf(static_cast<std::size_t>(std::min<std::uint64_t>(chunk, file->size())));
  std::uint64_t at = 0;
  while (!ec && at < file->size()) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), file->size() - at));
    const ssize_t n = co_await offload(*ctx.read_pool, [fd = file->fd(), &buf, want, at] {
      ssize_t got;
      do {
        got = ::pread(fd, buf.data(), want, static_cast<off_t>(at));
      } while (got < 0 && errno == EINTR);
      return got;
    });
    if (n <= 0) {
      // The file shrank under us (it never should: blobs are written once). The client sees
      // a short body and the connection closes.
      logger()->error("blob file read failed at byte {} of {}", at, file->size());
      ec = net::error::eof;
      break;
    }
    conn.stream.expires_after(ctx.cfg.http_read_timeout);
    co_await net::async_write(conn.stream, net::buffer(buf.data(), static_cast<std::size_t>(n)),
                              net::redirect_error(net::use_awaitable, ec));
    at += static_cast<std::uint64_t>(n);
  }
}

net::awaitable<void> http_listener::impl::send_file_plain(server_context& ctx, http_conn& conn,
                                                          const reply_file& file,
                                                          beast::error_code& ec) {
  // sendfile(2): the kernel copies from the page cache to the socket, no buffer of ours. Each
  // call runs on the read pool (it may read the disk); the socket is non-blocking, so a call
  // sends what fits and a full socket is awaited here, on the strand, with the read timeout.
  auto& sock = conn.stream.socket();
  sock.native_non_blocking(true, ec);
  off_t at = 0;
  const auto size = static_cast<off_t>(file.size());
  while (!ec && at < size) {
    const int out = sock.native_handle();
    const auto sent = co_await offload(*ctx.read_pool, [out, in = file.fd(), &at, size] {
      ssize_t n;
      do {
        n = ::sendfile(out, in, &at, static_cast<std::size_t>(std::min<off_t>(size - at, 8 << 20)));
      } while (n < 0 && errno == EINTR);
      return std::pair<ssize_t, int>(n, n < 0 ? errno : 0);
    });
    if (sent.first > 0) {
      continue;
    }
    if (sent.first < 0 && (sent.second == EAGAIN || sent.second == EWOULDBLOCK)) {
      net::steady_timer limit(sock.get_executor());
      limit.expires_after(ctx.cfg.http_read_timeout);
      limit.async_wait([&sock](beast::error_code e) {
        if (!e) {
          beast::error_code ignored;
          sock.cancel(ignored);  // the client stopped reading
        }
      });
      co_await sock.async_wait(tcp::socket::wait_write, net::redirect_error(net::use_awaitable, ec));
      limit.cancel();
      continue;
    }
    logger()->info("sending a blob stopped at byte {} of {}: {}", at, size,
                   sent.first == 0 ? "the file ended early" : std::strerror(sent.second));
    ec = net::error::connection_aborted;
  }
}

net::awaitable<void> http_listener::impl::serve(std::shared_ptr<impl> self,
                                                std::shared_ptr<http_conn> conn) {
  server_context& ctx = self->ctx;
  const auto& cfg = ctx.cfg;
  tracked tracking(*self, conn);
  auto& stream = conn->stream;
  beast::flat_buffer buffer;
  beast::error_code ec;
  bool handed_over = false;
  if (stream.is_tls()) {
    // Counts against the connection limit and the read timeout like a request: a client that
    // never finishes its handshake loses its slot.
    stream.expires_after(cfg.http_read_timeout);
    co_await stream.async_handshake(true, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      logger()->info("TLS handshake with {} failed: {}", conn->peer, stream.handshake_failure());
      stream.close();
      co_return;
    }
  }
  const auto too_large = [&] {
    return http_reply::json(413, error_detail("request body larger than " +
                                              std::to_string(cfg.max_body_bytes) + " bytes"));
  };
  const auto malformed = [&] {
    logger()->debug("malformed request from {}: {}", conn->peer, ec.message());
    return http_reply::json(400, error_detail("malformed HTTP request: " + ec.message()));
  };
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_bytes));
    // An announced length is checked below, once the head is parsed: Beast's own check fails
    // the head before content_length() may be read, so the lingering close would not know how
    // much body is coming.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    stream.expires_after(cfg.http_read_timeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::header_limit) {
      co_await answer_early(ctx, *conn, buffer,
                            http_reply::json(431, error_detail(
                                                      "request headers larger than " +
                                                      std::to_string(cfg.max_header_bytes) +
                                                      " bytes")),
                            std::nullopt);
      break;
    }
    if (is_bad_request(ec)) {
      co_await answer_early(ctx, *conn, buffer, malformed(), std::nullopt);
      break;
    }
    if (ec) {
      break;  // closed, timed out
    }
    std::optional<std::uint64_t> length;
    if (auto announced = parser.content_length()) {
      length = *announced;
    }
    if (length && *length > cfg.max_body_bytes) {
      co_await answer_early(ctx, *conn, buffer, too_large(), length);
      break;
    }
    parser.body_limit(cfg.max_body_bytes);  // a chunked body is measured as it comes
    if (parser.chunked() || length.value_or(0) > check_before_body_bytes) {
      // A caller refused anyway does not get to send its (large) body first.
      if (auto refused = check_before_body(ctx, to_plain(parser.get(), conn->peer))) {
        co_await answer_early(ctx, *conn, buffer, std::move(*refused), length);
        break;
      }
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      co_await http::async_write(stream, cont, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        break;
      }
    }
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      co_await answer_early(ctx, *conn, buffer, too_large(), std::nullopt);  // chunked
      break;
    }
    if (is_bad_request(ec)) {
      co_await answer_early(ctx, *conn, buffer, malformed(), std::nullopt);
      break;
    }
    if (ec) {
      break;
    }
    http::request<http::string_body> req = parser.release();
    http_request plain = to_plain(req, conn->peer);
    if (websocket::is_upgrade(req) && plain.path == "/ws") {
      auto who = ctx.auth->check_bearer(plain.authorization);
      if (auto* f = std::get_if<auth_failure>(&who)) {
        logger()->info("GET /ws from {} refused: {}", conn->peer, f->message);
        auto res = to_beast(http_reply::json(403, error_detail(f->message)), req.version(), false);
        co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
        break;
      }
      ws_upgrade up;
      up.target = plain.target;
      up.peer = conn->peer;
      for (const auto& field : req) {
        if (field.name() != http::field::authorization) {
          up.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
      }
      // The request was the last thing a WebSocket client sends before our 101, so nothing is
      // left in `buffer`. Untracked first: stop() must not reach the stream once it moves.
      tracking.release();
      stream.expires_never();  // the session's own timeouts take over
      start_ws_session(ctx, self->lanes, std::move(stream), std::move(up),
                       std::get<caller>(std::move(who)));
      handed_over = true;
      break;
    }
    http_reply reply = co_await dispatch_async(ctx, plain);
    // One line per answer; a handler's exception (dispatch's 500) is told here, once.
    if (reply.status >= 500) {
      logger()->warn("{} {} from {}: {}{}{}", plain.method, plain.path, conn->peer, reply.status,
                     reply.log_detail.empty() ? "" : ": ", reply.log_detail);
    } else {
      logger()->debug("{} {} from {}: {}", plain.method, plain.path, conn->peer, reply.status);
    }
    bool keep_alive = req.keep_alive();
    if (reply.file) {
      co_await send_file(ctx, *conn, std::move(reply), req.version(), keep_alive, ec);
    } else {
      auto res = to_beast(std::move(reply), req.version(), keep_alive);
      stream.expires_after(cfg.http_read_timeout);
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    }
    if (ec || !keep_alive) {
      break;
    }
  }
  if (!handed_over) {
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
  }
}

http_listener::http_listener(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

http_listener::~http_listener() { stop(); }

std::unique_ptr<http_listener> http_listener::open(server_context& ctx, net::io_context& ioc) {
  auto p = std::make_shared<impl>(ctx, ioc);
  const auto& cfg = ctx.cfg;
  if (cfg.tls.enabled()) {
    try {
      p->tls = tls::context::server(cfg.tls);
    } catch (const tls::tls_error& e) {
      throw config::config_error(std::vector<config::problem>{{"server.tls", e.what()}});
    }
  }
  std::string where = cfg.host + ":" + std::to_string(cfg.port);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(cfg.host, std::to_string(cfg.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw config::config_error(
        {{"server.host", "cannot resolve '" + cfg.host + "': " + ec.message()}});
  }
  tcp::endpoint ep = results.begin()->endpoint();
  p->acceptor.open(ep.protocol(), ec);
  if (!ec) {
    p->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    p->acceptor.bind(ep, ec);
  }
  if (!ec) {
    p->acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw config::config_error({{"server.port", "cannot listen on " + where + ": " + ec.message()}});
  }
  return std::unique_ptr<http_listener>(new http_listener(std::move(p)));
}

std::uint16_t http_listener::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void http_listener::start() {
  auto ex = impl_->acceptor.get_executor();
  net::co_spawn(ex, impl::accept_loop(impl_), [](std::exception_ptr e) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      logger()->error("accept loop failed: {}", ex.what());
    }
  });
}

void http_listener::stop() {
  // The executor is read under the lock: a connection handed to a WebSocket session is
  // untracked before its stream moves away.
  std::vector<std::pair<std::shared_ptr<http_conn>, net::any_io_executor>> open;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) {
      return;
    }
    impl_->stopped = true;
    for (auto& [id, weak] : impl_->conns) {
      if (auto c = weak.lock()) {
        auto ex = c->stream.get_executor();
        open.emplace_back(std::move(c), std::move(ex));
      }
    }
  }
  auto p = impl_;
  net::post(p->acceptor.get_executor(), [p] {
    beast::error_code ec;
    p->acceptor.close(ec);
  });
  for (auto& [c, ex] : open) {
    net::post(ex, [c = c] { c->stream.close(); });
  }
}

}  // namespace pdl::server
