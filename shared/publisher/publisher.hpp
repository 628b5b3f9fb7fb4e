#pragma once
// A small C++ client for publishers: validate a DataUpdate exactly as the server does, publish
// it, and obtain tokens. Blocking (shared/http/client.hpp); use one per thread or guard it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "shared/log/secret.hpp"
#include "shared/model/data_update.hpp"
#include "shared/publisher/delivery_status.hpp"

namespace pdl::publisher {

struct options {
  std::string server_url = "http://localhost:7002";
  std::string route = "/data/config";
  secret token;                                    // datasource JWT
  std::string ca_file;                             // PEM CA bundle ("" = system store)
  std::string client_cert;                         // PEM certificate for mTLS ("" = none)
  std::string client_key;                          // its PEM private key
  std::chrono::milliseconds timeout{10000};
};

struct publish_result {
  std::string id;                                  // server-assigned (or ours) update id
  std::optional<std::uint64_t> seq;                // absent when the server is OPAL's
  nlohmann::json body;                             // the whole answer
};

/** The server refused, or could not be reached. what() is a message for the user: the HTTP
 *  status and the server's reason, never the token. */
class publish_error : public std::runtime_error {
 public:
  publish_error(long status, std::string message)
      : std::runtime_error(std::move(message)), status_(status) {}
  long status() const noexcept { return status_; }  // 0 = no HTTP answer

 private:
  long status_;
};

class client {
 public:
  explicit client(options opts);
  /** Validates (model::validate) then POSTs. @throws model::invalid_input before sending
   *  anything; publish_error when the server refuses or is unreachable. */
  publish_result publish(const model::data_update& update) const;

  /** POST /token with the master token. @p ttl_seconds <= 0 means the server default.
   *  @throws publish_error. */
  nlohmann::json obtain_token(const secret& master_token, const std::string& peer_type,
                              double ttl_seconds, const nlohmann::json& claims) const;

  /** GET {server_url}/data/updates/{id} with the token (datasource or listener): what the
   *  server knows about the delivery of update @p id (pdl servers only; OPAL has no such route).
   *  @throws publish_error: status 404 when the server does not know the id (or has no such
   *  route); status 200 when the answer does not have the documented shape (the message names
   *  the field); otherwise as publish(). */
  delivery_status delivery(const std::string& id) const;

  /** Polls delivery(@p id) until it is `complete` or @p timeout has passed, sleeping between
   *  polls (20 ms, doubling, at most 500 ms; never past the deadline). Returns the last status
   *  read, complete or not: the caller decides what pending/failed agents mean. Transient errors
   *  (unreachable, 502/503/504) are retried until the deadline and rethrown only if no status
   *  was ever read; any other error is thrown at once. Each request is bounded by
   *  options::timeout and by what is left of @p timeout (at least one second).
   *  @throws publish_error. */
  delivery_status wait_for_delivery(const std::string& id,
                                    std::chrono::milliseconds timeout) const;

 private:
  delivery_status delivery_within(const std::string& id, std::chrono::milliseconds timeout) const;

  options opts_;
};

}  // namespace pdl::publisher
