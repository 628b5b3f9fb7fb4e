#include "tests/fakes/opa_standin/loopback_server.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include "shared/log/log.hpp"
#include "shared/net.hpp"
#include "shared/net/flex_stream.hpp"

namespace pdl::fakes {
namespace {

using namespace std::chrono_literals;
using error_code = boost::system::error_code;

constexpr auto io_timeout = std::chrono::minutes(5);
// A client that opens TCP and never finishes its TLS handshake is dropped after this.
constexpr auto handshake_timeout = std::chrono::seconds(30);

bool quiet_end(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::operation_aborted || ec == net::error::connection_reset ||
         ec == net::error::bad_descriptor || ec == beast::error::timeout;
}

// Only a request the parser refused gets an answer (400/413/431); a transport or TLS error
// (e.g. a peer that closes without close_notify) just ends the connection.
bool parse_error(const error_code& ec) {
  return ec.category() == make_error_code(http::error::bad_target).category();
}

}  // namespace

struct loopback_server::impl {
  options opts;
  handler on_request;
  std::shared_ptr<spdlog::logger> log;
  // Open connections, touched on the I/O thread only. Declared before ioc: sessions destroyed
  // along with the io_context still deregister themselves here.
  std::set<flex_stream*> live;
  bool stopping = false;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::signal_set signals{ioc};
  std::uint16_t port = 0;

  void shutdown() {
    if (stopping) {
      return;
    }
    stopping = true;
    error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
    for (auto* stream : live) {
      stream->close();
    }
  }
};

namespace {

using impl = loopback_server::impl;

http::response<http::string_body> to_beast(http_response&& res, unsigned version, bool keep) {
  http::response<http::string_body> out{static_cast<http::status>(res.status), version};
  if (!res.content_type.empty()) {
    out.set(http::field::content_type, res.content_type);
  }
  for (const auto& [name, value] : res.headers) {
    out.insert(name, value);
  }
  bool bodiless = res.status < 200 || res.status == 204 || res.status == 304;
  if (!bodiless) {
    out.body() = std::move(res.body);
    out.content_length(out.body().size());
  }
  out.keep_alive(keep);
  return out;
}

net::awaitable<void> send(impl* self, flex_stream& stream,
                          http::response<http::string_body>& out, error_code& ec,
                          std::chrono::milliseconds trickle = 0ms) {
  stream.expires_after(io_timeout);
  if (trickle.count() > 0) {
    std::ostringstream os;
    os << out;
    const std::string wire = os.str();
    const std::size_t head = wire.find("\r\n\r\n") + 4;
    co_await net::async_write(stream, net::buffer(wire.data(), head),
                              net::redirect_error(net::use_awaitable, ec));
    net::steady_timer pause(stream.get_executor());
    for (std::size_t off = head; off < wire.size() && !ec; ++off) {
      pause.expires_after(trickle);
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (self->stopping) {
        ec = net::error::operation_aborted;
        co_return;
      }
      stream.expires_after(io_timeout);
      co_await net::async_write(stream, net::buffer(wire.data() + off, 1),
                                net::redirect_error(net::use_awaitable, ec));
    }
    co_return;
  }
  if (self->opts.bytes_per_sec == 0) {
    co_await http::async_write(stream, out, net::redirect_error(net::use_awaitable, ec));
    co_return;
  }
  // Throttled: ten slices a second.
  std::ostringstream os;
  os << out;
  const std::string wire = os.str();
  const std::size_t slice = std::max<std::size_t>(1, self->opts.bytes_per_sec / 10);
  net::steady_timer pause(stream.get_executor());
  for (std::size_t off = 0; off < wire.size(); off += slice) {
    std::size_t n = std::min(slice, wire.size() - off);
    co_await net::async_write(stream, net::buffer(wire.data() + off, n),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      co_return;
    }
    if (off + n < wire.size()) {
      pause.expires_after(100ms);
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (self->stopping) {
        ec = net::error::operation_aborted;
        co_return;
      }
    }
  }
}

// Answers a request that could not be read, then the caller closes the connection.
net::awaitable<void> reject(impl* self, flex_stream& stream, const error_code& why) {
  http_response res{400, "text/plain; charset=utf-8", "400 Bad Request", {}};
  if (why == http::error::header_limit) {
    res = {431, "text/plain; charset=utf-8", "431 Request Header Fields Too Large", {}};
  } else if (why == http::error::body_limit) {
    res = {413, "text/plain; charset=utf-8", "413 Request Entity Too Large", {}};
  }
  SPDLOG_LOGGER_WARN(self->log, "rejected request: {} -> {}", why.message(), res.status);
  auto out = to_beast(std::move(res), 11, false);
  error_code ec;
  co_await send(self, stream, out, ec);
}

// A hung request: read (and drop) whatever comes until the client or stop() closes it.
net::awaitable<void> wait_for_close(flex_stream& stream) {
  stream.expires_never();
  char scratch[1024];
  error_code ec;
  while (!ec) {
    co_await stream.async_read_some(net::buffer(scratch),
                                    net::redirect_error(net::use_awaitable, ec));
  }
}

net::awaitable<void> serve_connection(impl* self, tcp::socket socket) {
  flex_stream stream = self->opts.tls ? flex_stream(std::move(socket), *self->opts.tls)
                                      : flex_stream(std::move(socket));
  struct registration {
    impl* self;
    flex_stream* stream;
    ~registration() { self->live.erase(stream); }
  } reg{self, &stream};
  self->live.insert(&stream);
  if (self->stopping) {
    co_return;
  }
  if (stream.is_tls()) {
    error_code ec;
    stream.expires_after(handshake_timeout);
    co_await stream.async_handshake(true, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (!self->stopping) {
        SPDLOG_LOGGER_WARN(self->log, "TLS handshake failed: {}", stream.handshake_failure());
      }
      stream.close();
      co_return;
    }
  }
  beast::flat_buffer buffer;
  if (self->opts.read_buffer_bytes > 0) {
    buffer.reserve(self->opts.read_buffer_bytes);
  }
  for (;;) {
    error_code ec;
    http::request_parser<http::string_body> parser;
    parser.body_limit(self->opts.body_limit);
    parser.header_limit(static_cast<std::uint32_t>(self->opts.header_limit));
    stream.expires_after(io_timeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (!ec && !parser.is_done()) {
      auto expect = parser.get()[http::field::expect];
      if (iequals(expect, "100-continue")) {
        static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(go_on),
                                  net::redirect_error(net::use_awaitable, ec));
      }
      if (!ec) {
        co_await http::async_read(stream, buffer, parser,
                                  net::redirect_error(net::use_awaitable, ec));
      }
    }
    if (ec) {
      if (!quiet_end(ec) && !self->stopping && parse_error(ec)) {
        co_await reject(self, stream, ec);
      }
      co_return;
    }
    auto msg = parser.release();
    http_request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& f : msg) {
      req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    req.body = std::move(msg.body());
    http_response res;
    try {
      res = self->on_request(req);
    } catch (const std::exception& e) {
      SPDLOG_LOGGER_ERROR(self->log, "handler failed on {} {}: {}", req.method, req.path(),
                          e.what());
      res = {500, "text/plain; charset=utf-8", "500 internal error in test fake\n", {}};
    }
    if (res.hang) {
      SPDLOG_LOGGER_INFO(self->log, "{} {} -> never answered ({} bytes in)", req.method,
                         req.path(), req.body.size());
      co_await wait_for_close(stream);
      co_return;
    }
    SPDLOG_LOGGER_INFO(self->log, "{} {} -> {} ({} bytes in, {} bytes out)", req.method,
                       req.path(), res.status, req.body.size(), res.body.size());
    bool keep = msg.keep_alive() && !res.close && !self->stopping;
    const auto trickle = res.trickle;
    auto out = to_beast(std::move(res), msg.version(), keep);
    co_await send(self, stream, out, ec, trickle);
    if (ec || !keep) {
      if (!ec && stream.is_tls()) {
        // close_notify, as Go's server sends; the client's answer (or its close) ends it.
        stream.expires_after(handshake_timeout);
        co_await stream.async_shutdown(net::redirect_error(net::use_awaitable, ec));
      }
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

net::awaitable<void> accept_loop(impl* self) {
  net::steady_timer backoff(self->ioc);
  for (;;) {
    error_code ec;
    tcp::socket socket =
        co_await self->acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (self->stopping) {
      co_return;
    }
    if (ec) {
      SPDLOG_LOGGER_WARN(self->log, "accept failed: {}", ec.message());
      backoff.expires_after(50ms);  // e.g. out of descriptors: do not spin
      co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    net::co_spawn(self->ioc, serve_connection(self, std::move(socket)),
                  [self](std::exception_ptr e) {
                    if (!e) {
                      return;
                    }
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                      SPDLOG_LOGGER_ERROR(self->log, "connection failed: {}", ex.what());
                    }
                  });
  }
}

tcp::endpoint resolve(net::io_context& ioc, const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) {
    throw std::runtime_error("address '" + addr + "' is not host:port");
  }
  std::string host = addr.substr(0, colon);
  std::string port_text = addr.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port > 65535) {
      throw std::out_of_range("port");
    }
  } catch (const std::exception&) {
    throw std::runtime_error("address '" + addr + "': port must be 0..65535");
  }
  error_code ec;
  auto ip = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (!ec) {
    return {ip, static_cast<std::uint16_t>(port)};
  }
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port_text, ec);
  if (ec || results.empty()) {
    throw std::runtime_error("address '" + addr + "': cannot resolve host: " + ec.message());
  }
  return results.begin()->endpoint();
}

}  // namespace

loopback_server::loopback_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

loopback_server::~loopback_server() = default;

std::unique_ptr<loopback_server> loopback_server::create(options opts, handler h) {
  auto p = std::make_unique<impl>();
  p->log = pdl::log::get(opts.logger);
  p->opts = std::move(opts);
  p->on_request = std::move(h);
  auto endpoint = resolve(p->ioc, p->opts.addr);
  error_code ec;
  p->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    p->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    p->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    p->acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw std::runtime_error("cannot listen on " + p->opts.addr + ": " + ec.message());
  }
  p->port = p->acceptor.local_endpoint().port();
  return std::unique_ptr<loopback_server>(new loopback_server(std::move(p)));
}

std::uint16_t loopback_server::port() const noexcept { return impl_->port; }

void loopback_server::run(bool handle_signals) {
  impl* self = impl_.get();
  if (handle_signals) {
    self->signals.add(SIGINT);
    self->signals.add(SIGTERM);
    self->signals.async_wait([self](const error_code& ec, int sig) {
      if (!ec) {
        SPDLOG_LOGGER_INFO(self->log, "signal {}: shutting down", sig);
        self->shutdown();
      }
    });
  }
  net::co_spawn(self->ioc, accept_loop(self), [self](std::exception_ptr e) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      SPDLOG_LOGGER_ERROR(self->log, "accept loop failed: {}", ex.what());
    }
  });
  self->ioc.run();
}

void loopback_server::stop() {
  impl* self = impl_.get();
  net::post(self->ioc, [self] { self->shutdown(); });
}

void write_port_file(const std::string& path, std::uint16_t port) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    throw std::runtime_error("cannot write port file " + tmp);
  }
  bool ok = std::fprintf(f, "%u\n", static_cast<unsigned>(port)) > 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot write port file " + path);
  }
}

}  // namespace pdl::fakes
