#include "agent/api_server.hpp"

#include <cstdio>
#include <fstream>
#include <list>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "agent/supervisor.hpp"
#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"
#include "shared/metrics/metrics.hpp"
#include "shared/net.hpp"

namespace pdl::agent {
namespace {

using response_t = http::response<http::string_body>;

response_t json_response(http::status status, std::string body, unsigned version, bool keep) {
  response_t res{status, version};
  res.set(http::field::server, "pdl-agent");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

struct api_server::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, api_options o, const agent_state& s, const metrics::registry* m)
      : ioc(ioc),
        opt(std::move(o)),
        state(s),
        metrics(m),
        acceptor(ioc),
        log(log::get("agent.api")) {}

  net::awaitable<void> accept_loop();
  net::awaitable<void> serve(std::shared_ptr<beast::tcp_stream> stream);
  response_t route(const http::request<http::string_body>& req) const;

  net::io_context& ioc;
  api_options opt;
  const agent_state& state;
  const metrics::registry* metrics;  // null: no /metrics
  tcp::acceptor acceptor;
  std::shared_ptr<spdlog::logger> log;
  std::list<std::weak_ptr<beast::tcp_stream>> sessions;
  bool stopped = false;
};

response_t api_server::impl::route(const http::request<http::string_body>& req) const {
  const auto version = req.version();
  const bool keep = req.keep_alive();
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  const bool known = target == "/" || target == "/healthy" || target == "/healthcheck" ||
                     target == "/ready" || target == "/status" ||
                     (target == "/metrics" && metrics != nullptr);
  if (!known) {
    return json_response(http::status::not_found, R"({"detail":"Not Found"})", version, keep);
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = json_response(http::status::method_not_allowed,
                             R"({"detail":"Method Not Allowed"})", version, keep);
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (target == "/ready") {
    return state.ready()
               ? json_response(http::status::ok, R"({"status":"ok"})", version, keep)
               : json_response(http::status::service_unavailable, R"({"status":"unavailable"})",
                               version, keep);
  }
  if (target == "/status") {
    return json_response(http::status::ok, state.status_json(), version, keep);
  }
  if (target == "/metrics") {
    auto res = json_response(http::status::ok, metrics->render(), version, keep);
    res.set(http::field::content_type, std::string(metrics::content_type));
    return res;
  }
  const auto h = state.health();
  if (h.degraded) {  // healthy, but an update is overdue: said, not a reason for a restart
    nlohmann::json body{{"status", "degraded"}, {"online", h.online}, {"reason", h.reason}};
    if (const auto age = state.oldest_pending_age()) {
      body["oldest_pending_update_seconds"] = std::chrono::duration<double>(*age).count();
    }
    return json_response(http::status::ok, body.dump(), version, keep);
  }
  if (h.healthy && h.online) {
    return json_response(http::status::ok, R"({"status":"ok","online":true})", version, keep);
  }
  if (h.healthy) {  // offline mode: serving restored data, the server is out of reach
    nlohmann::json body{{"status", "ok"}, {"online", false}, {"reason", h.reason}};
    return json_response(http::status::ok, body.dump(), version, keep);
  }
  nlohmann::json body{{"status", "unavailable"}, {"online", false}, {"reason", h.reason}};
  return json_response(http::status::service_unavailable, body.dump(), version, keep);
}

net::awaitable<void> api_server::impl::accept_loop() {
  auto self = shared_from_this();
  while (!stopped) {
    boost::system::error_code ec;
    tcp::socket socket(ioc);
    co_await acceptor.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (stopped || ec == net::error::operation_aborted) {
        co_return;
      }
      SPDLOG_LOGGER_WARN(log, "accept failed: {}", ec.message());
      continue;  // e.g. EMFILE: the next accept may work
    }
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    sessions.remove_if([](const auto& w) { return w.expired(); });
    sessions.push_back(stream);
    net::co_spawn(ioc, serve(stream), [log = log](std::exception_ptr ep) {
      if (!ep) {
        return;
      }
      SPDLOG_LOGGER_DEBUG(log, "api session ended: {}", describe(ep));
    });
  }
}

net::awaitable<void> api_server::impl::serve(std::shared_ptr<beast::tcp_stream> stream) {
  auto self = shared_from_this();
  beast::flat_buffer buffer(opt.max_request_bytes);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opt.max_request_bytes));
    parser.body_limit(opt.max_request_bytes);
    stream->expires_after(opt.read_timeout);
    boost::system::error_code ec;
    co_await http::async_read(*stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || stopped) {
      break;
    }
    if (ec) {
      auto res = json_response(http::status::bad_request, R"({"detail":"bad request"})", 11,
                               false);
      stream->expires_after(opt.read_timeout);
      co_await http::async_write(*stream, res, net::redirect_error(net::use_awaitable, ec));
      break;
    }
    auto res = route(parser.get());
    if (parser.get().method() == http::verb::head) {
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    stream->expires_after(opt.read_timeout);
    co_await http::async_write(*stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !res.keep_alive()) {
      break;
    }
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream->socket().close(ignored);
}

std::unique_ptr<api_server> api_server::create(net::io_context& ioc, api_options options,
                                               const agent_state& state,
                                               const metrics::registry* metrics) {
  auto p = std::make_shared<impl>(ioc, std::move(options), state, metrics);
  boost::system::error_code ec;
  const auto address = net::ip::make_address(p->opt.host, ec);
  if (ec) {
    throw config::config_error(
        {config::problem{"api.host", "not an IP address: '" + p->opt.host + "'"}});
  }
  const tcp::endpoint ep(address, p->opt.port);
  p->acceptor.open(ep.protocol(), ec);
  if (!ec) {
    p->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    p->acceptor.bind(ep, ec);
  }
  if (!ec) {
    p->acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw config::config_error({config::problem{
        "api.port", "cannot listen on " + p->opt.host + ":" + std::to_string(p->opt.port) +
                        ": " + ec.message()}});
  }
  return std::unique_ptr<api_server>(new api_server(std::move(p)));
}

api_server::api_server(std::shared_ptr<impl> impl) : impl_(std::move(impl)) {}

api_server::~api_server() { stop(); }

void api_server::start() {
  net::co_spawn(impl_->ioc, impl_->accept_loop(), [log = impl_->log](std::exception_ptr ep) {
    if (!ep) {
      return;
    }
    SPDLOG_LOGGER_ERROR(log, "api accept loop failed: {}", describe(ep));
  });
  SPDLOG_LOGGER_INFO(impl_->log, "agent API listening on {}:{}", impl_->opt.host, port());
  if (!impl_->opt.port_file.empty()) {
    write_port_file(impl_->opt.port_file, port());
  }
}

void api_server::stop() {
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& w : impl_->sessions) {
    if (auto s = w.lock()) {
      s->socket().close(ignored);
    }
  }
  impl_->sessions.clear();
}

std::uint16_t api_server::port() const noexcept {
  boost::system::error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void write_port_file(const std::string& path, std::uint16_t port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.flush();
    if (!out) {
      throw std::runtime_error("cannot write the port file '" + tmp + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot rename the port file into '" + path + "'");
  }
}

}  // namespace pdl::agent
