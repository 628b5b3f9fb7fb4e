#pragma once
// A real redis-server for tests, on a free loopback port, with its data in a directory of the
// test's own (append-only file, fsync always: a restart keeps every acknowledged write).
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace pdl::test {

class redis_server {
 public:
  /** Starts redis-server (from PATH or /usr/bin) with its files under @p dir and @p extra_args
   *  (e.g. --replicaof 127.0.0.1 <port>) after ours; waits until it answers PING.
   *  @throws std::runtime_error with its log when it does not come up. */
  explicit redis_server(std::string dir, std::vector<std::string> extra_args = {});
  ~redis_server();

  int port() const noexcept { return port_; }
  std::string uri() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  /** kill -9 (nothing flushed beyond what fsync already wrote). */
  void kill();
  /** SIGSTOP: connections stay open and nothing is answered until thaw() (a hung Redis).
   *  Prefer frozen_redis, which always thaws. */
  void freeze();
  /** SIGCONT. */
  void thaw();
  /** Starts it again on the same port and directory; waits for PING. */
  void start();
  /** The arguments after ours from the next start() on. */
  void set_extra_args(std::vector<std::string> extra_args) { extra_ = std::move(extra_args); }
  bool running();

  /** Runs redis-cli with @p args against this server; returns its output (trimmed). */
  std::string cli(const std::vector<std::string>& args) const;

 private:
  std::string dir_;
  std::vector<std::string> extra_;
  int port_ = 0;
  int incarnation_ = 0;
  std::unique_ptr<process> proc_;
};

/** Freezes @p r for its lifetime (SIGSTOP now, SIGCONT in the destructor, also when a test
 *  assertion returns early), so no redis-server is ever left stopped. */
class frozen_redis {
 public:
  explicit frozen_redis(redis_server& r) : r_(r) { r_.freeze(); }
  ~frozen_redis() { r_.thaw(); }
  frozen_redis(const frozen_redis&) = delete;
  frozen_redis& operator=(const frozen_redis&) = delete;

 private:
  redis_server& r_;
};

/** True when a redis-server binary is installed (the test scripts install it). */
bool have_redis_server();

/** A loopback port the kernel just handed out and released: free unless someone races us. */
int free_loopback_port();

/** /usr/bin/<name> or /usr/local/bin/<name> when there, else @p name (PATH). */
std::string redis_binary(const char* name);

}  // namespace pdl::test
