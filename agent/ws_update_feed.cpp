#include "agent/ws_update_feed.hpp"

#include <algorithm>
#include <deque>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "agent/backoff.hpp"
#include "agent/supervisor.hpp"
#include "agent/ws_url.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"
#include "shared/config/config_error.hpp"
#include "shared/net.hpp"
#include "shared/net/flex_stream.hpp"
#include "shared/rpc/rpc.hpp"

namespace pdl::agent {
namespace {

using ws_stream = websocket::stream<flex_stream>;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    out += (out.empty() ? "" : ",") + s;
  }
  return out;
}

bool benign(const boost::system::error_code& ec) {
  return ec == net::error::operation_aborted || ec == websocket::error::closed ||
         ec == net::error::eof;
}

}  // namespace

struct ws_update_feed::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, ws_feed_options o)
      : ioc(ioc),
        opt(std::move(o)),
        retry_timer(ioc),
        call_timer(ioc),
        close_done(ioc),
        write_turn(ioc),
        resume(ioc),
        delays(opt.reconnect_min, opt.reconnect_max, opt.backoff_seed),
        log(log::get("agent.ws")),
        channel_id(rpc::new_call_id()) {
    for (std::size_t i = 0; i < opt.server_urls.size(); ++i) {
      const auto where = opt.server_urls.size() == 1 ? std::string("server.url")
                                                     : "server.url[" + std::to_string(i) + "]";
      endpoints.push_back(derive_ws_endpoint(opt.server_urls[i], where));
    }
    if (endpoints.empty()) {
      endpoints.push_back(derive_ws_endpoint("http://localhost:7002"));
    }
    if (std::any_of(endpoints.begin(), endpoints.end(), [](const auto& e) { return e.tls; })) {
      try {
        tls = tls::context::client(opt.tls);
      } catch (const tls::tls_error& e) {
        using f = tls::tls_error::file;
        const char* where = e.which() == f::ca    ? "tls.ca_file"
                            : e.which() == f::key ? "tls.client_key"
                                                  : "tls.client_cert";
        throw config::config_error(std::vector<config::problem>{{where, e.what()}});
      }
    }
    // Never expires: cancel() wakes every coroutine waiting for its turn to write.
    write_turn.expires_at(net::steady_timer::time_point::max());
  }

  net::awaitable<void> run();
  net::awaitable<void> session(std::size_t index, bool& established);
  net::awaitable<rpc::response> call(std::string_view method, std::string_view args);
  net::awaitable<void> handle_request(const rpc::request& req);
  net::awaitable<std::string> read();
  /** Reads until a frame decodes; invalid frames are logged and skipped. */
  net::awaitable<rpc::frame> read_frame();
  net::awaitable<void> write(std::string text);
  net::awaitable<void> close_going_away();
  net::awaitable<void> flush_acks();
  void maybe_flush();
  void request_stop();

  net::io_context& ioc;
  ws_feed_options opt;
  std::vector<ws_endpoint> endpoints;
  feed_handlers handlers;
  net::steady_timer retry_timer;
  net::steady_timer call_timer;
  net::steady_timer close_done;  // cancelled when a close handshake finished
  net::steady_timer write_turn;  // cancelled when a write (or the ack flusher) finished
  net::steady_timer resume;      // the paused wait; cancelled by pause(false), stop, reconnect
  backoff delays;
  std::shared_ptr<spdlog::logger> log;
  std::string channel_id;

  std::optional<tls::context> tls;  // when a server URL is https
  std::optional<ws_stream> ws;
  bool open = false;      // upgrade completed, close not started
  bool writing = false;
  bool close_pending = false;
  bool closing = false;
  bool stopping = false;
  bool paused = false;  // back-pressure from the agent: no frame is read
  bool echoed = false;
  bool subscribed = false;  // this session's subscribe was answered true
  bool flushing = false;    // flush_acks() runs
  bool acks_dropped_logged = false;
  std::deque<applied_ack> acks;
  std::uint64_t session_gen = 0;
};

net::awaitable<void> ws_update_feed::impl::run() {
  auto self = shared_from_this();  // the task keeps the state alive
  while (!stopping) {
    bool established = false;
    std::string last_error;
    for (std::size_t i = 0; i < endpoints.size() && !stopping; ++i) {
      try {
        co_await session(i, established);
        last_error = "the server closed the connection";
      } catch (const std::exception& e) {
        last_error = e.what();
      }
      subscribed = false;
      if (closing) {
        // The close handshake runs beside the read that just failed; the stream must outlive it.
        boost::system::error_code ignored;
        co_await close_done.async_wait(net::redirect_error(net::use_awaitable, ignored));
      }
      if (flushing && ws) {
        // The ack flusher may be inside a write on this stream: fail it, wait for it to leave.
        boost::system::error_code ignored;
        beast::get_lowest_layer(*ws).socket().close(ignored);
        while (flushing) {
          co_await write_turn.async_wait(net::redirect_error(net::use_awaitable, ignored));
        }
      }
      open = false;
      ws.reset();
      call_timer.cancel();
      if (established || stopping) {
        break;
      }
      SPDLOG_LOGGER_WARN(log, "cannot use {}: {}", endpoints[i].url(), last_error);
    }
    if (stopping) {
      break;
    }
    if (established) {
      delays.reset();
      SPDLOG_LOGGER_WARN(log, "connection lost: {}", last_error);
    }
    if (handlers.on_disconnected) {
      handlers.on_disconnected(last_error);
    }
    const auto delay = delays.next();
    SPDLOG_LOGGER_INFO(log, "reconnecting in {} ms (attempt {})", delay.count(), delays.attempts());
    retry_timer.expires_after(delay);
    boost::system::error_code ec;
    co_await retry_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

net::awaitable<void> ws_update_feed::impl::session(std::size_t index, bool& established) {
  const ws_endpoint& ep = endpoints[index];
  const auto gen = ++session_gen;
  tcp::resolver resolver(ioc);
  // Operands of co_await are kept free of non-trivial temporaries (GCC 12 coroutine bugs).
  const std::string port = std::to_string(ep.port);
  auto results = co_await resolver.async_resolve(ep.host, port, net::use_awaitable);
  if (stopping) {
    co_return;
  }
  if (ep.tls) {
    ws.emplace(net::any_io_executor(ioc.get_executor()), *tls);
  } else {
    ws.emplace(net::any_io_executor(ioc.get_executor()));
  }
  auto& lowest = beast::get_lowest_layer(*ws);
  lowest.expires_after(opt.connect_timeout);
  co_await lowest.tcp_layer().async_connect(results, net::use_awaitable);
  // Acks and pings are small frames: never hold them for Nagle (see the server's listener).
  boost::system::error_code nodelay_ec;
  lowest.tcp_layer().socket().set_option(tcp::no_delay(true), nodelay_ec);
  if (ep.tls) {
    // Never a plaintext fallback: a failed handshake fails this attempt, and the loop retries.
    lowest.expect_peer_name(ep.host);
    boost::system::error_code hs;
    co_await lowest.async_handshake(false, net::redirect_error(net::use_awaitable, hs));
    if (hs) {
      throw std::runtime_error("TLS handshake failed: " + lowest.handshake_failure());
    }
  }
  lowest.expires_never();  // the websocket stream's own timeouts take over

  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = opt.connect_timeout;
  if (opt.ping_interval.count() > 0) {
    timeouts.idle_timeout = 2 * opt.ping_interval;
    timeouts.keep_alive_pings = true;
  } else {
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
  }
  ws->set_option(timeouts);
  ws->set_option(websocket::stream_base::decorator(
      [token = opt.token, agent_id = opt.agent_id](websocket::request_type& req) {
        req.set(http::field::user_agent, "pdl-agent");
        req.set(http::field::authorization, "Bearer " + token.reveal());
        req.set(rpc::protocol_header, rpc::protocol_version);
        if (!agent_id.empty()) {
          req.set("X-PDL-Agent-Id", agent_id);
        }
      }));
  ws->read_message_max(opt.max_message_bytes);
  websocket::response_type res;
  boost::system::error_code ec;
  co_await ws->async_handshake(res, ep.host_header, ep.target,
                               net::redirect_error(net::use_awaitable, ec));
  if (ec == websocket::error::upgrade_declined) {
    const auto status = res.result_int();
    std::string hint;
    if (status == 401 || status == 403) {
      hint = " (check the client token)";
    }
    throw std::runtime_error("the server refused the WebSocket upgrade: HTTP " +
                             std::to_string(status) + hint);
  }
  if (ec) {
    throw boost::system::system_error(ec, "WebSocket upgrade");
  }
  if (stopping) {
    co_return;
  }
  open = true;
  const auto it = res.find(rpc::protocol_header);
  echoed = it != res.end() && it->value() == rpc::protocol_version;
  if (echoed && handlers.on_log_id) {
    const auto id_it = res.find(rpc::log_id_header);
    const std::string log_id = id_it == res.end() ? std::string() : std::string(id_it->value());
    handlers.on_log_id(log_id.size() <= 64 ? log_id : std::string());
  }
  ws->text(true);

  const auto pong = co_await call("_ping_", "{}");
  SPDLOG_LOGGER_DEBUG(log, "_ping_ answered {}", pong.result_json);
  std::string topics_args = rpc::encode_topics_arguments(opt.topics);
  std::string resume_note;
  if (echoed && handlers.resume_after) {
    // Protocol 1: the server replays what we missed, then goes live (docs/protocol.md).
    const std::uint64_t after = handlers.resume_after();
    topics_args.insert(topics_args.size() - 1, ", \"after_seq\": " + std::to_string(after));
    resume_note = ", resuming after seq " + std::to_string(after);
  }
  const auto sub = co_await call("subscribe", topics_args);
  if (sub.result_json != "true") {
    SPDLOG_LOGGER_ERROR(log, "the server refused the subscription to topics [{}] (answer {}); "
                        "is the client token allowed these topics?",
                        join(opt.topics), sub.result_json.substr(0, 64));
    throw std::runtime_error("subscription refused");
  }
  established = true;
  subscribed = true;
  SPDLOG_LOGGER_INFO(log, "connected to {} (topics [{}], pdl protocol {}{})", ep.url(),
                     join(opt.topics), echoed ? "yes" : "no", resume_note);
  if (opt.current_server) {
    opt.current_server->store(index);
  }
  if (handlers.on_connected && !stopping) {
    handlers.on_connected(feed_connection_info{ep.url(), index, echoed});
  }
  maybe_flush();
  while (!stopping && gen == session_gen) {
    while (paused && !stopping && gen == session_gen &&
           beast::get_lowest_layer(*ws).socket().is_open()) {
      // Woken by pause(false), stop() or reconnect(), and every second to notice a connection
      // that ended meanwhile (a server close or the idle timeout: nothing reads while paused).
      resume.expires_after(std::chrono::seconds(1));
      boost::system::error_code ignored;
      co_await resume.async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
    if (stopping || gen != session_gen) {
      break;
    }
    if (!beast::get_lowest_layer(*ws).socket().is_open()) {
      throw std::runtime_error("connection closed while paused");
    }
    const rpc::frame f = co_await read_frame();
    if (f.req) {
      co_await handle_request(*f.req);
    }
  }
}

net::awaitable<rpc::response> ws_update_feed::impl::call(std::string_view method,
                                                         std::string_view args) {
  const std::string id = rpc::new_call_id();
  std::string request = rpc::encode_request(method, args, id);
  co_await write(std::move(request));
  // A server that never answers would hold us forever (OPAL has no response timeout): close the
  // socket instead, which fails the pending read and sends us to the retry loop.
  call_timer.expires_after(opt.call_timeout);
  call_timer.async_wait([self = shared_from_this(), gen = session_gen,
                         m = std::string(method)](boost::system::error_code ec) {
    if (!ec && gen == self->session_gen && self->ws) {
      SPDLOG_LOGGER_WARN(self->log, "no answer to {} within {} ms", m,
                         self->opt.call_timeout.count());
      boost::system::error_code ignored;
      beast::get_lowest_layer(*self->ws).socket().close(ignored);
    }
  });
  for (;;) {
    const rpc::frame f = co_await read_frame();
    if (f.resp && f.resp->call_id == id) {
      call_timer.cancel();
      co_return std::move(*f.resp);
    }
    if (f.req) {
      co_await handle_request(*f.req);
    }
  }
}

net::awaitable<void> ws_update_feed::impl::handle_request(const rpc::request& req) {
  if (req.method == "notify") {
    try {
      auto args = rpc::decode_notify_arguments(req.arguments_json);
      auto update = model::parse_data_update(args.data_json);
      if (handlers.on_update && !stopping) {
        handlers.on_update(std::move(update), args.topic);
      }
    } catch (const model::invalid_input& e) {
      SPDLOG_LOGGER_ERROR(log, "ignoring an invalid update from the server: {}", e.what());
    }
    // Answered whatever happened: an OPAL server waits for it before notifying others.
    std::string answer = rpc::encode_response("\"None\"", "str", req.call_id);
    co_await write(std::move(answer));
  } else if (req.method == "_get_channel_id_") {
    std::string answer = rpc::encode_response("\"" + channel_id + "\"", "str", req.call_id);
    co_await write(std::move(answer));
  } else if (req.method == "_ping_" || req.method == "ping") {
    std::string answer = rpc::encode_response("\"pong\"", "str", req.call_id);
    co_await write(std::move(answer));
  } else if (!req.method.empty() && req.method.front() == '_') {
    // The RPC library's convention: other private methods get no answer.
  } else {
    SPDLOG_LOGGER_WARN(log, "ignoring unknown RPC method '{}' from the server",
                       req.method.substr(0, 64));
  }
}

net::awaitable<rpc::frame> ws_update_feed::impl::read_frame() {
  for (;;) {
    const std::string text = co_await read();
    try {
      co_return rpc::decode(text, opt.max_message_bytes);
    } catch (const model::invalid_input& e) {
      SPDLOG_LOGGER_ERROR(log, "ignoring an invalid frame from the server: {}", e.what());
    }
  }
}

net::awaitable<std::string> ws_update_feed::impl::read() {
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  co_await ws->async_read(buffer, net::redirect_error(net::use_awaitable, ec));
  if (ec == websocket::error::closed) {
    const auto& reason = ws->reason();
    throw std::runtime_error("the server closed the connection (code " +
                             std::to_string(reason.code) +
                             (reason.reason.empty() ? std::string()
                                                    : " " + std::string(reason.reason)) +
                             ")");
  }
  if (ec) {
    throw boost::system::system_error(ec, "WebSocket read");
  }
  co_return beast::buffers_to_string(buffer.data());
}

net::awaitable<void> ws_update_feed::impl::write(std::string text) {
  // One write at a time on a WebSocket: the session's answers and the ack flusher take turns.
  while (writing && !stopping && open) {
    boost::system::error_code ignored;
    co_await write_turn.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
  if (stopping || !open) {
    throw std::runtime_error("stopping");
  }
  writing = true;
  boost::system::error_code ec;
  co_await ws->async_write(net::buffer(text), net::redirect_error(net::use_awaitable, ec));
  writing = false;
  write_turn.cancel();
  if (close_pending) {
    close_pending = false;
    co_await close_going_away();
  }
  if (ec) {
    throw boost::system::system_error(ec, "WebSocket write");
  }
}

net::awaitable<void> ws_update_feed::impl::close_going_away() {
  if (!ws || !open) {
    co_return;
  }
  open = false;
  closing = true;
  close_done.expires_at(net::steady_timer::time_point::max());
  boost::system::error_code ec;
  const websocket::close_reason reason(websocket::close_code::going_away, "agent shutting down");
  co_await ws->async_close(reason, net::redirect_error(net::use_awaitable, ec));
  closing = false;
  close_done.cancel();
  if (ec && !benign(ec)) {
    SPDLOG_LOGGER_DEBUG(log, "close: {}", ec.message());
  }
}

void ws_update_feed::impl::maybe_flush() {
  if (flushing || !subscribed || !echoed || !open || stopping || acks.empty()) {
    return;
  }
  flushing = true;
  net::co_spawn(ioc, flush_acks(), [self = shared_from_this()](std::exception_ptr ep) {
    self->flushing = false;
    self->write_turn.cancel();
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        SPDLOG_LOGGER_DEBUG(self->log, "acknowledgements not sent: {}", e.what());
      }
    }
  });
}

net::awaitable<void> ws_update_feed::impl::flush_acks() {
  auto self = shared_from_this();
  const auto gen = session_gen;
  while (!acks.empty() && subscribed && open && !stopping && gen == session_gen) {
    const auto& a = acks.front();
    const nlohmann::json args{{"id", a.id}, {"seq", a.seq}, {"ok", a.ok}, {"errors", a.errors}};
    // Errors quote sources and the engine: replace keeps an ill-formed byte from making this
    // throw (the ack would stay queued, and throw again, forever).
    std::string frame = rpc::encode_request(
        "pdl_applied", args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        rpc::new_call_id());
    co_await write(std::move(frame));  // throws when the connection goes: the ack stays queued
    acks.pop_front();
  }
}

void ws_update_feed::impl::request_stop() {
  if (stopping) {
    return;
  }
  stopping = true;
  retry_timer.cancel();
  call_timer.cancel();
  resume.cancel();
  if (!ws) {
    return;
  }
  if (open && writing) {
    close_pending = true;  // one write at a time: close right after the current one
  } else if (open) {
    net::co_spawn(ioc, [](std::shared_ptr<impl> self) -> net::awaitable<void> {
      co_await self->close_going_away();
    }(shared_from_this()), [](std::exception_ptr) {});
  } else {
    boost::system::error_code ignored;
    beast::get_lowest_layer(*ws).socket().close(ignored);
  }
}

ws_update_feed::ws_update_feed(net::io_context& ioc, ws_feed_options options)
    : impl_(std::make_shared<impl>(ioc, std::move(options))) {}

ws_update_feed::~ws_update_feed() {
  if (impl_) {
    impl_->handlers = {};
    impl_->request_stop();
  }
}

void ws_update_feed::start(feed_handlers handlers) {
  impl_->handlers = std::move(handlers);
  auto i = impl_;
  supervise(
      i->ioc, "update feed", [i] { return i->run(); }, [i] { return i->stopping; });
}

void ws_update_feed::stop() {
  impl_->handlers = {};
  impl_->request_stop();
}

bool ws_update_feed::protocol_echoed() const noexcept { return impl_->echoed; }

void ws_update_feed::acknowledge(applied_ack ack) {
  auto& i = *impl_;
  if (i.acks.size() >= std::max<std::size_t>(1, i.opt.max_pending_acks)) {
    if (!i.acks_dropped_logged) {
      SPDLOG_LOGGER_WARN(i.log, "more than {} acknowledgements wait for the server; dropping the "
                         "oldest (logged once)", i.opt.max_pending_acks);
      i.acks_dropped_logged = true;
    }
    i.acks.pop_front();
  }
  i.acks.push_back(std::move(ack));
  i.maybe_flush();
}

void ws_update_feed::reconnect() {
  auto& i = *impl_;
  if (i.ws && i.open && !i.stopping) {
    SPDLOG_LOGGER_INFO(i.log, "reconnecting to resubscribe from scratch");
    boost::system::error_code ignored;
    beast::get_lowest_layer(*i.ws).socket().close(ignored);
    i.resume.cancel();  // a paused session notices the closed socket
  }
}

void ws_update_feed::pause(bool on) {
  auto& i = *impl_;
  if (i.paused == on) {
    return;
  }
  i.paused = on;
  SPDLOG_LOGGER_DEBUG(i.log, "{} reading from the server", on ? "pausing" : "resuming");
  if (!on) {
    i.resume.cancel();
  }
}

}  // namespace pdl::agent
