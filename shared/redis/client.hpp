#pragma once
// A Redis client: hiredis formats the commands and parses the replies (RESP), Asio carries the
// bytes on a thread of the client's own. Callers on any thread send a command and wait for its
// reply; concurrent commands are pipelined on one connection and answered in order. With a
// redis-sentinel:// endpoint every new connection asks the sentinels where the primary is.
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
  /** With Sentinel: a sentinel that has not answered within this (connecting included) is
   *  skipped for the next one. */
  std::chrono::milliseconds sentinel_timeout{500};
};

/**
 * @par Connection
 * Opened on the first command, AUTH and SELECT sent first when the endpoint asks for them.
 * When the connection fails, every command in flight fails with redis_error; the next command
 * opens a new one. Nothing is retried here: the caller knows whether a command may be repeated.
 * @par Sentinel
 * With a redis-sentinel:// endpoint, opening a connection first asks the sentinels in turn
 * `SENTINEL get-master-addr-by-name <name>` (no AUTH; the one that answered is asked first next
 * time), connects to the address named, and sends `ROLE` after AUTH/SELECT: an instance that is
 * not a master fails the connection. A reply `-READONLY`, `-LOADING`, `-MASTERDOWN` or
 * `-UNBLOCKED` is handed to its caller and then drops the connection, as a lost connection
 * does, so the next command asks the sentinels again. A new primary address is logged (warn).
 * All of it runs on the client's thread; callers only wait for their replies.
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

  /** Sends @p commands back to back on one connection and waits for all their replies (in
   *  order). They are written together: either all go on the same connection, or all fail. So a
   *  `WAIT` after a write covers that write (Redis counts WAIT per connection).
   *  @param timeout for all of them; 0 = options.timeout.
   *  @return one reply per command; an error reply is returned as reply::kind::error.
   *  @throws redis_error when the connection fails or the time runs out. */
  std::vector<reply> pipeline(const std::vector<std::vector<std::string>>& commands,
                              std::chrono::milliseconds timeout = {});

  /** True while a connection is open and its last command did not fail. */
  bool healthy() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace pdl::redis
