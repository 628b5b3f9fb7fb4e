#include "server/ws_session.hpp"

#include <array>
#include <deque>

#include <unistd.h>

#include "server/server_context.hpp"
#include "server/ws_rpc.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"
#include "shared/rpc/rpc.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.ws");
  return l;
}

// How long a close handshake may take before the socket is simply closed (a peer that stopped
// reading never answers it).
constexpr auto close_grace = std::chrono::seconds(5);

bool is_normal_end(const beast::error_code& ec) {
  return ec == websocket::error::closed || ec == net::error::operation_aborted ||
         ec == net::error::eof || ec == net::error::connection_reset ||
         ec == beast::error::timeout || ec == net::error::bad_descriptor;
}

class ws_session final : public subscriber, public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(server_context& ctx, tcp::socket sock, std::string id, std::string peer, caller who)
      : ctx_(ctx),
        ws_(std::move(sock)),
        close_timer_(ws_.get_executor()),
        id_(std::move(id)),
        peer_(std::move(peer)),
        rpc_(ctx, id_, std::move(who)) {
    ++ctx_.stats.open_connections;
  }
  ~ws_session() override { --ctx_.stats.open_connections; }

  const std::string& id() const override { return id_; }

  void deliver(outgoing_frame frame) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), f = std::move(frame)]() mutable {
      self->enqueue(std::move(f));
    });
  }

  void shut_down() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->begin_close(websocket::close_code::going_away);
    });
  }

  net::any_io_executor executor() { return ws_.get_executor(); }

  /** The session's life; @p self keeps it alive (coroutine parameters by value, STYLE H5). */
  static net::awaitable<void> run(std::shared_ptr<ws_session> self,
                                  http::request<http::empty_body> req) {
    co_await self->serve(std::move(req));
  }

 private:
  net::awaitable<void> serve(http::request<http::empty_body> req) {
    auto self = shared_from_this();
    const auto& cfg = ctx_.cfg;
    websocket::stream_base::timeout opt{};
    opt.handshake_timeout = close_grace;
    if (cfg.ws_ping_interval.count() > 0) {
      // A ping goes out after one quiet interval; no answer within the next one ends the session.
      opt.idle_timeout = 2 * cfg.ws_ping_interval;
      opt.keep_alive_pings = true;
    } else {
      opt.idle_timeout = websocket::stream_base::none();
      opt.keep_alive_pings = false;
    }
    ws_.set_option(opt);
    ws_.read_message_max(cfg.ws_max_message_bytes);
    bool echo = req.find(rpc::protocol_header) != req.end();
    ws_.set_option(websocket::stream_base::decorator([echo](websocket::response_type& res) {
      res.set(http::field::server, "pdl-opal-server");
      if (echo) {
        res.set(rpc::protocol_header, rpc::protocol_version);
      }
    }));
    beast::error_code ec;
    co_await ws_.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      logger()->info("conn={} peer={} handshake failed: {}", id_, peer_, ec.message());
      co_return;
    }
    ++ctx_.stats.open_sessions;
    ctx_.subscriptions.attach(self);
    logger()->info("conn={} peer={} session open", id_, peer_);
    beast::flat_buffer buffer;
    for (;;) {
      co_await ws_.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        break;
      }
      if (ws_.got_text() && !closing_) {
        std::string text = beast::buffers_to_string(buffer.data());
        if (auto answer = rpc_.on_frame(text)) {
          enqueue(outgoing_frame{std::move(*answer), nullptr});
        }
      }
      buffer.consume(buffer.size());
    }
    ctx_.subscriptions.detach(id_);
    --ctx_.stats.open_sessions;
    close_timer_.cancel();
    hard_close();
    if (is_normal_end(ec)) {
      logger()->info("conn={} session closed ({})", id_, ec.message());
    } else {
      logger()->warn("conn={} session ended: {}", id_, ec.message());
    }
  }

  void enqueue(outgoing_frame f) {
    if (closing_) {
      return;
    }
    if (queue_.size() >= ctx_.cfg.ws_send_queue_max) {
      ++ctx_.stats.slow_sessions_closed;
      logger()->warn("conn={} peer={} send queue full ({} frames): closing with 1013", id_,
                     peer_, queue_.size());
      begin_close(websocket::close_code::try_again_later);
      return;
    }
    ++ctx_.stats.notifies_queued;
    queue_.push_back(std::move(f));
    if (!writing_) {
      do_write();
    }
  }

  void do_write() {
    writing_ = true;
    const outgoing_frame& f = queue_.front();
    std::array<net::const_buffer, 2> bufs{
        net::buffer(f.head), f.tail ? net::buffer(*f.tail) : net::const_buffer{}};
    ws_.text(true);
    ws_.async_write(bufs, beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) {
      queue_.clear();
      if (!is_normal_end(ec)) {
        logger()->info("conn={} write failed: {}", id_, ec.message());
      }
      hard_close();
      return;
    }
    queue_.pop_front();
    if (!queue_.empty() && !closing_) {
      do_write();
    }
  }

  void begin_close(websocket::close_code code) {
    if (closing_) {
      if (code == websocket::close_code::going_away) {
        hard_close();  // shutting down: do not wait for a close that is stuck behind a write
      }
      return;
    }
    closing_ = true;
    ctx_.subscriptions.detach(id_);
    // Keep only the frame being written (its buffers are in use).
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queue_.pop_back();
    }
    ws_.async_close(websocket::close_reason(code),
                    [self = shared_from_this()](beast::error_code) {});
    close_timer_.expires_after(close_grace);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->hard_close();
      }
    });
  }

  void hard_close() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  server_context& ctx_;
  websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer close_timer_;
  std::string id_;
  std::string peer_;
  ws_rpc rpc_;
  std::deque<outgoing_frame> queue_;  // strand only; references stay valid across push_back
  bool writing_ = false;
  bool closing_ = false;
};

}  // namespace

void start_ws_session(server_context& ctx, net::io_context& ioc, int native_fd, bool v6,
                      ws_upgrade upgrade, caller who) {
  tcp::socket sock(net::make_strand(ioc));
  beast::error_code ec;
  sock.assign(v6 ? tcp::v6() : tcp::v4(), native_fd, ec);
  if (ec) {
    ::close(native_fd);
    logger()->error("peer={} cannot take over the upgraded socket: {}", upgrade.peer,
                    ec.message());
    return;
  }
  http::request<http::empty_body> req{http::verb::get, upgrade.target, 11};
  for (auto& [name, value] : upgrade.headers) {
    req.insert(name, value);
  }
  auto session = std::make_shared<ws_session>(ctx, std::move(sock), rpc::new_call_id(),
                                              std::move(upgrade.peer), std::move(who));
  auto ex = session->executor();
  net::co_spawn(ex, ws_session::run(std::move(session), std::move(req)),
                [](std::exception_ptr e) {
                  if (!e) {
                    return;
                  }
                  try {
                    std::rethrow_exception(e);
                  } catch (const std::exception& ex) {
                    logger()->error("session failed: {}", ex.what());
                  }
                });
}

}  // namespace pdl::server
