#pragma once
// A small C++ client for publishers: validate a DataUpdate exactly as the server does, publish
// it, and obtain tokens. Blocking (libcurl); use one per thread or guard it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "shared/log/secret.hpp"
#include "shared/model/data_update.hpp"

namespace pdl::publisher {

struct options {
  std::string server_url = "http://localhost:7002";
  std::string route = "/data/config";
  secret token;                                    // datasource JWT
  std::string ca_file;
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

 private:
  options opts_;
};

}  // namespace pdl::publisher
