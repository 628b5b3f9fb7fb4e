#include "tests/fakes/opa_standin/loopback_client.hpp"

#include <stdexcept>

#include "shared/net.hpp"

namespace pdl::fakes {

struct loopback_client::impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout;

  // Runs one async operation to completion under the timeout.
  template <class Op>
  void run(Op&& op) {
    boost::system::error_code result = net::error::would_block;
    stream.expires_after(timeout);
    op([&result](boost::system::error_code ec, std::size_t) { result = ec; });
    ioc.restart();
    ioc.run();
    if (result) {
      throw std::runtime_error("loopback client: " + result.message());
    }
  }

  client_reply read_reply() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(1024u * 1024 * 1024);
    parser.header_limit(1024u * 1024);
    run([&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    auto msg = parser.release();
    client_reply r;
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) {
      r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    r.body = std::move(msg.body());
    return r;
  }
};

std::optional<std::string> client_reply::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) {
      return v;
    }
  }
  return std::nullopt;
}

loopback_client::loopback_client(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>()) {
  impl_->timeout = timeout;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  impl_->run([&](auto handler) {
    impl_->stream.async_connect(ep, [handler](boost::system::error_code ec) { handler(ec, 0); });
  });
}

loopback_client::~loopback_client() = default;

client_reply loopback_client::send(const std::string& method, const std::string& target,
                                   const std::optional<std::string>& body,
                                   const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) {
    req.insert(k, v);
  }
  if (body) {
    req.body() = *body;
    req.content_length(body->size());
  }
  impl_->run([&](auto handler) { http::async_write(impl_->stream, req, handler); });
  return impl_->read_reply();
}

client_reply loopback_client::send_raw(const std::string& bytes) {
  impl_->run([&](auto handler) { net::async_write(impl_->stream, net::buffer(bytes), handler); });
  return impl_->read_reply();
}

client_reply loopback_client::receive() { return impl_->read_reply(); }

client_reply http_call(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::optional<std::string>& body,
                       const std::vector<std::pair<std::string, std::string>>& headers) {
  loopback_client c(port);
  return c.send(method, target, body, headers);
}

}  // namespace pdl::fakes
