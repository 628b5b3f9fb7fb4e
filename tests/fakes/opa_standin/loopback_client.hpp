#pragma once
// A blocking HTTP/1.1 client for tests that talk to the fakes (or anything) on loopback and need
// the exact status, headers and body bytes. One connection per client; requests on it are
// sent one after another (keep-alive).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/fakes/opa_standin/http_types.hpp"

namespace pdl::fakes {

struct client_reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /** The first header named @p name (case-insensitive), or nullopt. */
  std::optional<std::string> header(std::string_view name) const;
};

class loopback_client {
 public:
  /** Connects to 127.0.0.1:@p port. @throws std::runtime_error when it cannot. */
  explicit loopback_client(std::uint16_t port,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~loopback_client();
  loopback_client(const loopback_client&) = delete;
  loopback_client& operator=(const loopback_client&) = delete;

  /** Sends one request (Content-Length set from @p body when it is given; no body and no
   *  Content-Length otherwise) and reads the reply.
   *  @throws std::runtime_error on I/O failure or when the timeout passes. */
  client_reply send(const std::string& method, const std::string& target,
                    const std::optional<std::string>& body = std::nullopt,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

  /** Writes raw bytes and reads one reply (for requests a normal client would not send). */
  client_reply send_raw(const std::string& bytes);

  /** Reads one more reply (after an interim "100 Continue", say). */
  client_reply receive();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/** One request on a fresh connection. */
client_reply http_call(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::optional<std::string>& body = std::nullopt,
                       const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace pdl::fakes
