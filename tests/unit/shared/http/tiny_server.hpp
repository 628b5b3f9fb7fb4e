#pragma once
// Test helper: a minimal HTTP/1.1 server on 127.0.0.1:<ephemeral>, raw sockets, one thread,
// one request per connection ("Connection: close"). Records every request it read.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pdl::test {

class tiny_server {
 public:
  /** Called per request with the connected socket and the raw request (head + body). */
  using handler = std::function<void(int fd, const std::string& request)>;

  explicit tiny_server(handler h) : handler_(std::move(h)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      throw std::runtime_error("tiny_server: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~tiny_server() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }

  tiny_server(const tiny_server&) = delete;
  tiny_server& operator=(const tiny_server&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static void write_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      off += static_cast<std::size_t>(n);
    }
  }

  /** A complete response with Content-Length and Connection: close. */
  static std::string response(int status, const std::string& body,
                              const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra_headers + "\r\n" +
           body;
  }

  /** Handler answering every request with @p status and @p body. */
  static handler replying(int status, std::string body, std::string extra_headers = "") {
    return [=](int fd, const std::string&) {
      write_all(fd, response(status, body, extra_headers));
    };
  }

  /** Blocks until the peer closes: a server that accepted and never answers. */
  static void hang(int fd) {
    char buf[4096];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
  }

 private:
  void run() {
    while (!stopping_) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      std::string req = read_request(fd);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      handler_(fd, req);
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
    }
  }

  static std::string lower(std::string s) {
    for (char& c : s) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
  }

  static std::string read_request(int fd) {
    std::string data;
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
        return data;
      }
    }
    const auto head_end = data.find("\r\n\r\n") + 4;
    const auto head = lower(data.substr(0, head_end));
    if (auto cl = head.find("content-length:"); cl != std::string::npos) {
      const std::size_t len = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
      while (data.size() < head_end + len && more()) {
      }
    } else if (head.find("transfer-encoding: chunked") != std::string::npos) {
      while (data.find("\r\n0\r\n\r\n", head_end - 2) == std::string::npos && more()) {
      }
    }
    return data;
  }

  handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> requests_;  // guarded by mu_
};

}  // namespace pdl::test
