#pragma once
// A tiny blocking HTTP server on 127.0.0.1:0 for the agent's client tests: one thread, one
// connection at a time, every request answered by a handler and recorded.
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shared/net.hpp"

namespace pdl::agent::test {

struct seen_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) {
        return v;
      }
    }
    return {};
  }
  bool has_header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) {
        return true;
      }
    }
    return false;
  }
};

class mini_http_server {
 public:
  using response = http::response<http::string_body>;
  using handler = std::function<response(const seen_request&)>;

  explicit mini_http_server(handler h) : handler_(std::move(h)), acceptor_(ioc_) {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~mini_http_server() {
    stopping_ = true;
    boost::system::error_code ec;
    // Wake the blocking accept with a throwaway connection.
    tcp::socket poke(ioc_);
    poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }

  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::uint16_t port() const { return port_; }
  std::vector<seen_request> requests() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  static response reply(http::status status, std::string body,
                        std::string content_type = "application/json") {
    response res{status, 11};
    if (!content_type.empty()) {
      res.set(http::field::content_type, content_type);
    }
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

 private:
  void serve() {
    while (!stopping_) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) {
        return;
      }
      beast::flat_buffer buffer;
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(512 * 1024 * 1024);
        http::read(socket, buffer, parser, ec);
        if (ec) {
          break;
        }
        const auto& req = parser.get();
        seen_request seen;
        seen.method = std::string(req.method_string());
        seen.target = std::string(req.target());
        for (const auto& f : req) {
          std::string name(f.name_string());
          for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          }
          seen.headers.emplace_back(name, std::string(f.value()));
        }
        seen.body = req.body();
        {
          std::lock_guard lock(mu_);
          seen_.push_back(seen);
        }
        auto res = handler_(seen);
        res.keep_alive(req.keep_alive());
        http::write(socket, res, ec);
        if (ec || !req.keep_alive()) {
          break;
        }
      }
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  handler handler_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<seen_request> seen_;
};

}  // namespace pdl::agent::test
