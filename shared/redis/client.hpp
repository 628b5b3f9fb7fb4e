#pragma once
// A Redis client: hiredis formats the commands and parses the replies (RESP), Asio carries the
// bytes on a thread of the client's own. Callers on any thread send a command and wait for its
// reply; concurrent commands are pipelined on one connection and answered in order.
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/redis/endpoint.hpp"

namespace pdl::redis {

/** One reply, copied out of hiredis's reply object. */
struct reply {
  enum class kind { nil, string, status, integer, array, error };
  kind type = kind::nil;
  std::string str;  // string, status and error replies
  long long integer = 0;
  std::vector<reply> elements;
};

/** The command did not get a usable reply: connection refused or lost, timed out, or Redis
 *  answered with an error. The message names the cause, never a command's arguments. */
class redis_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct client_options {
  endpoint where;
  /** A command not answered within this (connecting included) fails, and the connection is
   *  dropped so no later reply can be mistaken for another's. */
  std::chrono::milliseconds timeout{2000};
  /** One reply may not be larger than this (a protocol guard, not a data limit). */
  std::size_t max_reply_bytes = std::size_t{512} << 20;
  /** Names the connection in logs ("append", "tail"). */
  std::string name = "redis";
};

/**
 * @par Connection
 * Opened on the first command, AUTH and SELECT sent first when the endpoint asks for them.
 * When the connection fails, every command in flight fails with redis_error; the next command
 * opens a new one. Nothing is retried here: the caller knows whether a command may be repeated.
 * @par Thread safety
 * call() from any number of threads. The destructor must not race with call().
 */
class client {
 public:
  explicit client(client_options options);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /** Sends @p args as one command and waits for its reply.
   *  @param timeout overrides options.timeout (e.g. for a blocking XREAD); 0 = the default.
   *  @throws redis_error, also for an error reply (its text is Redis's, e.g. "NOSCRIPT ..."). */
  reply call(const std::vector<std::string>& args, std::chrono::milliseconds timeout = {});

  /** True while a connection is open and its last command did not fail. */
  bool healthy() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace pdl::redis
