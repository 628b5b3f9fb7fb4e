#pragma once
// A loopback TCP proxy the fault suite controls: it listens on an ephemeral port of 127.0.0.1
// and forwards each accepted connection to 127.0.0.1:<target>, where the target can change at
// run time (a restarted server or stand-in comes back on a new ephemeral port, and its clients
// keep the proxy's address). cut_all() resets every live connection (RST, both sides) and
// refuse mode resets new ones at once, to play "network down" without killing anyone.
// Plain sockets and poll(2) on one thread of its own: no Asio needed for a few connections.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace pdl::test {

class tcp_proxy {
 public:
  /** Starts listening (and forwarding to @p target_port, 0 = nowhere yet: connections are
   *  reset). @throws std::runtime_error when it cannot listen. */
  explicit tcp_proxy(int target_port);
  /** Stops the thread and closes every socket. */
  ~tcp_proxy();
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  /** The port clients connect to; fixed for the proxy's lifetime. */
  int port() const noexcept { return port_; }

  /** New connections go to @p target_port; live ones are left alone. Thread-safe. */
  void retarget(int target_port);

  /** Resets every live connection, both sides, as soon as the proxy thread wakes (before this
   *  returns). Thread-safe. */
  void cut_all();

  /** While on, new connections are accepted and reset at once. Thread-safe. */
  void set_refuse(bool on);

  /** Connections accepted so far (for the report). */
  std::size_t accepted() const noexcept { return accepted_.load(); }

 private:
  void run();
  void wake();

  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> target_{0};
  std::atomic<bool> refuse_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> accepted_{0};
  std::mutex cut_mu_;
  std::uint64_t cut_requested_ = 0;  // guarded by cut_mu_
  std::uint64_t cut_done_ = 0;       // guarded by cut_mu_
  std::condition_variable cut_cv_;
  std::thread thread_;
};

}  // namespace pdl::test
