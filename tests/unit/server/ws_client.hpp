#pragma once
// A blocking Beast WebSocket client for the server tests (one per thread).
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/net.hpp"
#include "shared/rpc/rpc.hpp"

namespace pdl::server::testing {

class ws_client {
 public:
  using headers = std::vector<std::pair<std::string, std::string>>;

  /** Our agent's headers: X-PDL-Protocol: 1 (plus @p agent_id when not empty). */
  static headers protocol1(const std::string& agent_id = "") {
    headers h{{std::string(rpc::protocol_header), std::string(rpc::protocol_version)}};
    if (!agent_id.empty()) {
      h.emplace_back("X-PDL-Agent-Id", agent_id);
    }
    return h;
  }

  ws_client(std::uint16_t port, const std::string& token, headers extra = protocol1())
      : ws_(ioc_) {
    tcp::resolver resolver(ioc_);
    net::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.set_option(
        websocket::stream_base::decorator([token, extra](websocket::request_type& req) {
          if (!token.empty()) {
            req.set(http::field::authorization, "Bearer " + token);
          }
          for (const auto& [name, value] : extra) {
            req.set(name, value);
          }
        }));
    ws_.handshake(response_, "127.0.0.1", "/ws", ec_);
  }

  const beast::error_code& handshake_error() const { return ec_; }
  const websocket::response_type& handshake_response() const { return response_; }

  void send(const std::string& text) { ws_.write(net::buffer(text)); }

  std::string call(const std::string& method, const std::string& args) {
    std::string id = rpc::new_call_id();
    send(rpc::encode_request(method, args, id));
    return id;
  }

  rpc::frame read() {
    beast::flat_buffer buf;
    ws_.read(buf);
    return rpc::decode(beast::buffers_to_string(buf.data()));
  }

  /** Reads, erroring out (instead of blocking forever) if the socket closes. */
  std::optional<rpc::frame> try_read(beast::error_code& ec) {
    beast::flat_buffer buf;
    ws_.read(buf, ec);
    if (ec) {
      return std::nullopt;
    }
    return rpc::decode(beast::buffers_to_string(buf.data()));
  }

  rpc::response expect_response(const std::string& call_id) {
    rpc::frame f = read();
    if (!f.resp) {
      throw std::runtime_error("expected a response, got a request: " + f.req->method);
    }
    EXPECT_EQ(f.resp->call_id, call_id);
    return *f.resp;
  }

  bool subscribe(const std::vector<std::string>& topics) {
    auto id = call("subscribe", rpc::encode_topics_arguments(topics));
    return expect_response(id).result_json == "true";
  }

  /** subscribe with after_seq (protocol 1); @return the answer's result. */
  std::string subscribe_after(const std::vector<std::string>& topics, std::uint64_t after_seq) {
    nlohmann::json args = {{"topics", topics}, {"after_seq", after_seq}};
    auto id = call("subscribe", args.dump());
    return expect_response(id).result_json;
  }

  /** Reads the next notify and returns its DataUpdate (throws on anything else). */
  nlohmann::json read_notify() {
    rpc::frame f = read();
    if (!f.req || f.req->method != "notify") {
      throw std::runtime_error("expected a notify");
    }
    return nlohmann::json::parse(f.req->arguments_json)["data"];
  }

  websocket::stream<tcp::socket>& stream() { return ws_; }

 private:
  net::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  websocket::response_type response_;
  beast::error_code ec_;
};

}  // namespace pdl::server::testing
