// The blocking client over Beast: each perform() runs one coroutine on its own io_context, on
// the calling thread. Plain http never touches OpenSSL (its context is built only for https),
// which keeps an agent that talks plain HTTP to its store and sources free of OpenSSL's
// initialisation (about 3 MB of resident memory).
#include "shared/http/client.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <exception>
#include <limits>
#include <memory>

#include <openssl/evp.h>

#include "shared/http/transfer_buffers.hpp"
#include "shared/http/url.hpp"
#include "shared/net.hpp"
#include "shared/net/flex_stream.hpp"

namespace pdl::http_client {
namespace {

constexpr std::size_t chunk_bytes = 64 * 1024;
constexpr std::uint32_t max_header_bytes = 100 * 1024;
// Holds a whole response head (up to max_header_bytes) plus what arrived with it.
constexpr std::size_t read_buffer_bytes = 128 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool valid_header(const std::string& name, const std::string& value) {
  if (name.empty()) {
    return false;
  }
  for (unsigned char c : name) {
    if (c <= ' ' || c == ':' || c >= 0x7f) {
      return false;
    }
  }
  return value.find_first_of("\r\n") == std::string::npos && value.find('\0') == std::string::npos;
}

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

struct failure {
  transport_error::code what;
  std::string detail;
};
using outcome = std::variant<response, failure>;
using maybe_failure = std::optional<failure>;

/** One request, with its redirects, on a private io_context. */
class transfer {
 public:
  transfer(net::io_context& ioc, const request& req, const body_sink& sink)
      : ex_(ioc.get_executor()), req_(req), sink_(sink), resolver_(ex_), total_timer_(ex_),
        resolve_timer_(ex_), memory_(read_buffer_bytes, chunk_bytes),
        buffer_(memory_.read_area(), memory_.read_size()), chunk_(memory_.chunk()) {}

  net::awaitable<outcome> run() {
    if (req_.total_timeout.count() > 0) {
      total_timer_.expires_after(req_.total_timeout);
      total_timer_.async_wait([this](beast::error_code ec) {
        if (!ec) {
          total_expired_ = true;
          abort_io();
        }
      });
    }
    outcome out = co_await hops();
    total_timer_.cancel();
    resolve_timer_.cancel();
    if (stream_) {
      stream_->close();
    }
    if (std::holds_alternative<failure>(out) && total_expired_) {
      out = failure{transport_error::code::timeout,
                    "Operation timed out after " + std::to_string(req_.total_timeout.count()) +
                        " milliseconds (the request's total time limit)"};
    }
    co_return out;
  }

 private:
  void abort_io() {
    resolver_.cancel();
    if (stream_) {
      stream_->close();
    }
  }

  net::awaitable<outcome> hops() {
    std::string method = upper(req_.method);
    if (method.empty() || method.find_first_of(" \t\r\n") != std::string::npos) {
      co_return failure{transport_error::code::other, "invalid request method"};
    }
    for (const auto& [name, value] : req_.headers) {
      if (!valid_header(name, value.reveal())) {
        // Name only: the value is a secret.
        co_return failure{transport_error::code::other,
                          "invalid request header '" + name.substr(0, 64) + "'"};
      }
    }
    std::string url = req_.url;
    std::string first_origin;
    bool with_body = true;
    for (int hop = 0;; ++hop) {
      std::string why;
      auto u = parse_url(url, why);
      if (!u) {
        co_return failure{transport_error::code::other, "URL rejected: " + why};
      }
      if (hop == 0) {
        first_origin = u->origin();
      }
      if (auto f = co_await open(*u)) {
        co_return *f;
      }
      if (auto f = co_await send(*u, method, with_body, u->origin() == first_origin)) {
        co_return *f;
      }
      parser_.emplace();
      if (auto f = co_await read_head(method == "HEAD")) {
        co_return *f;
      }
      const unsigned status = parser_->get().result_int();
      const auto location = parser_->get().find(http::field::location);
      if (req_.max_redirects > 0 && is_redirect(status) && location != parser_->get().end()) {
        if (hop >= req_.max_redirects) {
          co_return failure{transport_error::code::other,
                            "Maximum (" + std::to_string(req_.max_redirects) +
                                ") redirects followed"};
        }
        if (req_.body_source) {
          co_return failure{transport_error::code::other,
                            "cannot follow a redirect after a streamed upload"};
        }
        url = resolve_location(*u, std::string_view(location->value().data(),
                                                    location->value().size()));
        if (status == 303 || ((status == 301 || status == 302) && method == "POST")) {
          method = "GET";
          with_body = false;
        }
        stream_->close();
        continue;
      }
      response resp;
      resp.status = static_cast<long>(status);
      resp.effective_url = url;
      for (const auto& field : parser_->get()) {
        resp.headers.emplace_back(lower(std::string_view(field.name_string().data(),
                                                         field.name_string().size())),
                                  std::string(field.value().data(), field.value().size()));
      }
      if (auto f = co_await read_body(resp)) {
        co_return *f;
      }
      co_return resp;
    }
  }

  net::awaitable<maybe_failure> open(const url_parts& u) {
    if (stream_) {
      stream_->close();
      stream_.reset();
    }
    buffer_.clear();  // what the previous hop's connection left unread is not this hop's answer
    if (u.tls) {
      try {
        stream_ = std::make_unique<flex_stream>(
            ex_, tls::context::client({req_.ca_file, req_.client_cert, req_.client_key}));
      } catch (const tls::tls_error& e) {
        co_return failure{transport_error::code::tls, e.what()};
      }
    } else {
      stream_ = std::make_unique<flex_stream>(ex_);
    }
    const std::string where = u.host + " port " + u.port;
    // The resolver has no timeout of its own: a timer cancels it.
    bool resolve_expired = false;
    resolve_timer_.expires_after(req_.connect_timeout);
    resolve_timer_.async_wait([this, &resolve_expired](beast::error_code ec) {
      if (!ec) {
        resolve_expired = true;
        resolver_.cancel();
      }
    });
    beast::error_code ec;
    auto results =
        co_await resolver_.async_resolve(u.host, u.port, net::redirect_error(net::use_awaitable, ec));
    resolve_timer_.cancel();
    if (resolve_expired) {
      co_return failure{transport_error::code::timeout, "Resolving " + u.host + " timed out"};
    }
    if (ec) {
      co_return failure{transport_error::code::connect,
                        "Could not resolve host " + u.host + ": " + ec.message()};
    }
    stream_->expires_after(req_.connect_timeout);
    co_await stream_->tcp_layer().async_connect(results,
                                                net::redirect_error(net::use_awaitable, ec));
    if (ec == beast::error::timeout) {
      co_return failure{transport_error::code::timeout,
                        "Connection to " + where + " timed out after " +
                            std::to_string(req_.connect_timeout.count()) + " milliseconds"};
    }
    if (ec) {
      co_return failure{transport_error::code::connect,
                        "Failed to connect to " + where + ": " + ec.message()};
    }
    beast::error_code ignored;
    stream_->socket().set_option(tcp::no_delay(true), ignored);
    if (u.tls) {
      stream_->expect_peer_name(u.host);
      stream_->expires_after(req_.connect_timeout);
      co_await stream_->async_handshake(false, net::redirect_error(net::use_awaitable, ec));
      if (ec == beast::error::timeout) {
        co_return failure{transport_error::code::timeout,
                          "TLS handshake with " + where + " timed out"};
      }
      if (ec) {
        std::string why = stream_->handshake_failure();
        co_return failure{transport_error::code::tls,
                          "TLS handshake with " + where + " failed: " +
                              (why.empty() ? ec.message() : why)};
      }
    }
    co_return std::nullopt;
  }

  net::awaitable<maybe_failure> send(const url_parts& u, const std::string& method,
                                     bool with_body, bool same_origin) {
    http::request<http::empty_body> head;
    head.version(11);
    head.method_string(method);
    head.target(u.target);
    head.set(http::field::host, u.host_header());
    head.set(http::field::accept, "*/*");
    bool has_authorization = false;
    for (const auto& [name, value] : req_.headers) {
      const bool authorization = lower(name) == "authorization";
      if (authorization && !same_origin) {
        continue;  // credentials never follow a redirect to another origin
      }
      has_authorization = has_authorization || authorization;
      head.insert(name, value.reveal());
    }
    if (!u.userinfo.empty() && !has_authorization) {
      head.set(http::field::authorization, "Basic " + base64(percent_decode(u.userinfo)));
    }
    const bool streamed = with_body && static_cast<bool>(req_.body_source);
    const bool in_memory = with_body && !streamed && (req_.body.has_value() || method == "POST");
    if (streamed && req_.upload_size >= 0) {
      head.content_length(static_cast<std::uint64_t>(req_.upload_size));
    } else if (streamed) {
      head.set(http::field::transfer_encoding, "chunked");
    } else if (in_memory) {
      head.content_length(req_.body ? req_.body->size() : 0);
    }
    http::request_serializer<http::empty_body> serializer(head);
    beast::error_code ec;
    stream_->expires_after(req_.idle_timeout);
    co_await http::async_write_header(*stream_, serializer,
                                      net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      co_return write_failure(ec);
    }
    if (in_memory && req_.body) {
      const std::string& body = *req_.body;
      for (std::size_t at = 0; at < body.size(); at += chunk_bytes) {
        if (auto f = co_await write(net::buffer(body.data() + at,
                                                std::min(chunk_bytes, body.size() - at)))) {
          co_return f;
        }
      }
    }
    if (streamed) {
      co_return co_await upload(req_.upload_size < 0);
    }
    co_return std::nullopt;
  }

  net::awaitable<maybe_failure> upload(bool chunked) {
    std::uint64_t sent = 0;
    for (;;) {
      const std::size_t n = req_.body_source(chunk_, chunk_bytes);
      if (chunked) {
        char size_line[24];
        const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        std::array<net::const_buffer, 3> pieces{
            net::buffer(size_line, static_cast<std::size_t>(len)),
            net::buffer(chunk_, n), net::buffer("\r\n", 2)};
        if (auto f = co_await write(pieces)) {
          co_return f;
        }
      } else if (n > 0) {
        if (auto f = co_await write(net::buffer(chunk_, n))) {
          co_return f;
        }
      }
      sent += n;
      if (n == 0) {
        break;
      }
    }
    if (!chunked && sent != static_cast<std::uint64_t>(req_.upload_size)) {
      co_return failure{transport_error::code::other,
                        "the upload ended after " + std::to_string(sent) + " of " +
                            std::to_string(req_.upload_size) + " bytes"};
    }
    co_return std::nullopt;
  }

  template <class Buffers>
  net::awaitable<maybe_failure> write(const Buffers& buffers) {
    beast::error_code ec;
    stream_->expires_after(req_.idle_timeout);
    co_await net::async_write(*stream_, buffers, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      co_return write_failure(ec);
    }
    co_return std::nullopt;
  }

  failure write_failure(const beast::error_code& ec) const {
    if (ec == beast::error::timeout) {
      return {transport_error::code::timeout,
              "Operation timed out: nothing could be sent for " +
                  std::to_string(req_.idle_timeout.count()) + " milliseconds"};
    }
    return {transport_error::code::other, "Failed sending the request: " + ec.message()};
  }

  failure read_failure(const beast::error_code& ec) const {
    if (ec == beast::error::timeout) {
      return {transport_error::code::timeout,
              "Operation timed out: nothing received for " +
                  std::to_string(req_.idle_timeout.count()) + " milliseconds after " +
                  std::to_string(received_) + " bytes of body"};
    }
    if (ec == http::error::body_limit) {
      return too_large();
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return {transport_error::code::other, "response headers larger than " +
                                                std::to_string(max_header_bytes) + " bytes"};
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec == net::error::eof) {
      return {transport_error::code::other,
              "the server closed the connection before the response was complete"};
    }
    return {transport_error::code::other, "Failed receiving the response: " + ec.message()};
  }

  failure too_large() const {
    return {transport_error::code::too_large,
            "response larger than " + std::to_string(req_.max_response_bytes) + " bytes"};
  }

  net::awaitable<maybe_failure> read_head(bool head_request) {
    for (;;) {
      parser_->header_limit(max_header_bytes);
      parser_->body_limit(req_.max_response_bytes);
      if (head_request) {
        parser_->skip(true);
      }
      beast::error_code ec;
      stream_->expires_after(req_.idle_timeout);
      co_await http::async_read_header(*stream_, buffer_, *parser_,
                                       net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        co_return read_failure(ec);
      }
      const unsigned status = parser_->get().result_int();
      if (status >= 100 && status < 200 && status != 101) {
        parser_.emplace();  // 100 Continue and friends: the real answer follows
        continue;
      }
      co_return std::nullopt;
    }
  }

  net::awaitable<maybe_failure> read_body(response& resp) {
    while (!parser_->is_done()) {
      parser_->get().body().data = chunk_;
      parser_->get().body().size = chunk_bytes;
      beast::error_code ec;
      stream_->expires_after(req_.idle_timeout);
      co_await http::async_read(*stream_, buffer_, *parser_,
                                net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      const std::size_t n = chunk_bytes - parser_->get().body().size;
      if (n > 0) {
        if (received_ + n > req_.max_response_bytes) {
          co_return too_large();
        }
        received_ += n;
        resp.body_bytes = received_;
        if (sink_) {
          if (!sink_(resp.status, std::string_view(chunk_, n))) {
            co_return failure{transport_error::code::aborted, "transfer aborted by the receiver"};
          }
        } else {
          resp.body.append(chunk_, n);
        }
      }
      if (ec) {
        co_return read_failure(ec);
      }
    }
    co_return std::nullopt;
  }

  net::any_io_executor ex_;
  const request& req_;
  const body_sink& sink_;
  tcp::resolver resolver_;
  net::steady_timer total_timer_;
  net::steady_timer resolve_timer_;
  std::unique_ptr<flex_stream> stream_;
  transfer_buffers memory_;
  beast::flat_static_buffer_base buffer_;  // over memory_: see transfer_buffers.hpp
  std::optional<http::response_parser<http::buffer_body>> parser_;
  char* chunk_;                            // memory_'s chunk area, chunk_bytes long
  std::uint64_t received_ = 0;
  bool total_expired_ = false;
};

}  // namespace

std::optional<std::string> response::header(std::string_view name) const {
  const auto wanted = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == wanted) {
      return v;
    }
  }
  return std::nullopt;
}

std::string redact_url(std::string_view url) {
  auto cut = url.find_first_of("?#");
  if (cut != std::string_view::npos) {
    url = url.substr(0, cut);
  }
  auto scheme = url.find("://");
  std::size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  auto path = url.find('/', authority);
  auto at = url.substr(0, path).rfind('@');
  if (at != std::string_view::npos && at >= authority) {
    return std::string(url.substr(0, authority)) + std::string(url.substr(at + 1));
  }
  return std::string(url);
}

std::variant<response, transport_error> perform(const request& req, const body_sink& sink) {
  net::io_context ioc(1);
  transfer t(ioc, req, sink);
  std::optional<outcome> result;
  std::exception_ptr error;
  net::co_spawn(ioc, t.run(), [&result, &error](std::exception_ptr e, outcome o) {
    if (e) {
      error = e;
    } else {
      result = std::move(o);
    }
  });
  ioc.run();
  if (error) {
    std::rethrow_exception(error);  // from the body source or sink: the caller's own exception
  }
  if (auto* f = std::get_if<failure>(&*result)) {
    return transport_error{f->what, f->detail + " (" + redact_url(req.url) + ")"};
  }
  return std::get<response>(std::move(*result));
}

}  // namespace pdl::http_client
