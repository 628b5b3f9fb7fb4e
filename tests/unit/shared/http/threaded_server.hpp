#pragma once
// Test helper: an HTTP/1.1 server on 127.0.0.1:<ephemeral> with a thread per connection, so
// slow and hanging answers can run side by side; connections stay open for further requests
// while the handler says so (keep-alive). Counts connections: accepted, open now, most open.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <list>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/unit/shared/http/tiny_server.hpp"

namespace pdl::test {

class threaded_server {
 public:
  /** Answers one request on @p fd; returns true to keep the connection for another. Runs on
   *  the connection's thread; stopping() tells a slow handler to give up. */
  using handler = std::function<bool(int fd, const std::string& request)>;

  explicit threaded_server(handler h) : handler_(std::move(h)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 256) != 0) {
      throw std::runtime_error("threaded_server: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~threaded_server() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(mu_);
      for (int fd : open_fds_) {
        ::shutdown(fd, SHUT_RDWR);  // wakes handlers blocked on the peer
      }
    }
    for (auto& t : threads_) {
      t.join();
    }
  }

  threaded_server(const threaded_server&) = delete;
  threaded_server& operator=(const threaded_server&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  bool stopping() const { return stopping_; }
  int accepted() const { return accepted_; }
  int open() const { return open_; }
  int most_open() const { return most_open_; }
  int requests() const { return requests_; }

  static void write_all(int fd, const std::string& data) { tiny_server::write_all(fd, data); }

  /** A response with Content-Length; keep-alive unless @p close. */
  static std::string response(int status, const std::string& body, bool close = false,
                              const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + (close ? "Connection: close\r\n" : "") +
           extra_headers + "\r\n" + body;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        return;
      }
      std::lock_guard lock(mu_);
      ++accepted_;
      most_open_ = std::max(most_open_.load(), ++open_);
      open_fds_.insert(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string buffered;
    while (!stopping_) {
      std::string req = read_request(fd, buffered);
      if (req.empty()) {
        break;
      }
      ++requests_;
      if (!handler_(fd, req)) {
        break;
      }
    }
    {
      std::lock_guard lock(mu_);
      open_fds_.erase(fd);
      --open_;
    }
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }

  static std::string lower(std::string s) {
    for (char& c : s) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
  }

  /** One request (head and Content-Length body) from @p fd; "" when the peer closed. */
  static std::string read_request(int fd, std::string& data) {
    char buf[4096];
    auto more = [&] {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        return false;
      }
      data.append(buf, static_cast<std::size_t>(n));
      return true;
    };
    while (data.find("\r\n\r\n") == std::string::npos) {
      if (!more()) {
        return {};
      }
    }
    const auto head_end = data.find("\r\n\r\n") + 4;
    const auto head = lower(data.substr(0, head_end));
    std::size_t len = 0;
    if (auto cl = head.find("content-length:"); cl != std::string::npos) {
      len = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
    }
    while (data.size() < head_end + len) {
      if (!more()) {
        return {};
      }
    }
    std::string req = data.substr(0, head_end + len);
    data.erase(0, head_end + len);
    return req;
  }

  handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<int> most_open_{0};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::set<int> open_fds_;           // guarded by mu_
  std::list<std::thread> threads_;   // guarded by mu_ while accepting
};

}  // namespace pdl::test
