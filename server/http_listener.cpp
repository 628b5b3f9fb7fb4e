#include "server/http_listener.hpp"

#include <map>
#include <mutex>
#include <optional>

#include "server/async_dispatch.hpp"
#include "server/handlers.hpp"
#include "server/routes.hpp"
#include "server/server_context.hpp"
#include "server/ws_session.hpp"
#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"
#include "shared/net/flex_stream.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.http");
  return l;
}

// After refusing a request whose body we will not read, the rest of it is read and dropped for
// a moment, so the client sees our answer instead of a connection reset.
constexpr auto linger_time = std::chrono::seconds(2);
constexpr std::size_t linger_bytes = 16 * 1024 * 1024;

struct http_conn {
  explicit http_conn(tcp::socket s) : stream(std::move(s)) {}
  http_conn(tcp::socket s, const tls::context& ctx) : stream(std::move(s), ctx) {}
  flex_stream stream;  // TLS when the server has a certificate
  std::string peer;
};

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
  impl(server_context& c, net::io_context& i) : ctx(c), ioc(i), acceptor(net::make_strand(i)) {}

  server_context& ctx;
  net::io_context& ioc;
  tcp::acceptor acceptor;
  std::optional<tls::context> tls;  // set when cfg.tls has a certificate
  std::mutex mu;
  std::map<std::uint64_t, std::weak_ptr<http_conn>> conns;  // guarded by mu
  std::uint64_t next_id = 0;                                 // guarded by mu
  bool stopped = false;                                      // guarded by mu

  std::uint64_t track(const std::shared_ptr<http_conn>& c) {
    std::lock_guard lock(mu);
    conns[++next_id] = c;
    return next_id;
  }
  void untrack(std::uint64_t id) {
    std::lock_guard lock(mu);
    conns.erase(id);
  }

  static net::awaitable<void> accept_loop(std::shared_ptr<impl> self);
  static net::awaitable<void> serve(std::shared_ptr<impl> self, std::shared_ptr<http_conn> conn);
  static net::awaitable<void> linger_close(http_conn& conn);
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
    ++stats.open_connections;
    auto conn = self->tls ? std::make_shared<http_conn>(std::move(sock), *self->tls)
                          : std::make_shared<http_conn>(std::move(sock));
    conn->peer = endpoint_text(conn->stream.socket());
    auto ex = conn->stream.get_executor();
    net::co_spawn(ex, serve(self, std::move(conn)), [](std::exception_ptr e) {
      if (!e) {
        return;
      }
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        logger()->error("connection failed: {}", ex.what());
      }
    });
  }
}

net::awaitable<void> http_listener::impl::linger_close(http_conn& conn) {
  beast::error_code ec;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  conn.stream.expires_after(linger_time);
  std::array<char, 16 * 1024> sink{};
  std::size_t total = 0;
  while (!ec && total < linger_bytes) {
    total += co_await conn.stream.async_read_some(net::buffer(sink),
                                                  net::redirect_error(net::use_awaitable, ec));
  }
  conn.stream.close();
}

net::awaitable<void> http_listener::impl::serve(std::shared_ptr<impl> self,
                                                std::shared_ptr<http_conn> conn) {
  server_context& ctx = self->ctx;
  const auto& cfg = ctx.cfg;
  std::uint64_t id = self->track(conn);
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
      self->untrack(id);
      --ctx.stats.open_connections;
      co_return;
    }
  }
  auto refuse_and_close = [&](int status, std::string message) -> net::awaitable<void> {
    auto res = to_beast(http_reply::json(status, error_detail(message)), 11, false);
    stream.expires_after(cfg.http_read_timeout);
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    co_await linger_close(*conn);
  };
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_bytes));
    parser.body_limit(cfg.max_body_bytes);
    stream.expires_after(cfg.http_read_timeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::header_limit) {
      co_await refuse_and_close(431, "request headers larger than " +
                                         std::to_string(cfg.max_header_bytes) + " bytes");
      break;
    }
    // Beast reports an announced Content-Length over the limit here, before any body byte.
    if (ec == http::error::body_limit ||
        (!ec && parser.content_length() && *parser.content_length() > cfg.max_body_bytes)) {
      co_await refuse_and_close(413, "request body larger than " +
                                         std::to_string(cfg.max_body_bytes) + " bytes");
      break;
    }
    if (ec) {
      break;  // closed, timed out, or not HTTP
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
      co_await refuse_and_close(413, "request body larger than " +
                                         std::to_string(cfg.max_body_bytes) + " bytes");
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
      self->untrack(id);
      stream.expires_never();  // the session's own timeouts take over
      start_ws_session(ctx, std::move(stream), std::move(up), std::get<caller>(std::move(who)));
      handed_over = true;
      break;
    }
    http_reply reply = co_await dispatch_async(ctx, plain);
    if (reply.status >= 500) {
      logger()->warn("{} {} from {}: {}", plain.method, plain.path, conn->peer, reply.status);
    } else {
      logger()->debug("{} {} from {}: {}", plain.method, plain.path, conn->peer, reply.status);
    }
    bool keep_alive = req.keep_alive();
    auto res = to_beast(std::move(reply), req.version(), keep_alive);
    stream.expires_after(cfg.http_read_timeout);
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !keep_alive) {
      break;
    }
  }
  if (!handed_over) {
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
    self->untrack(id);
  }
  --ctx.stats.open_connections;
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
