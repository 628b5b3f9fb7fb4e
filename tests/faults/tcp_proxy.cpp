#include "tests/faults/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <stdexcept>
#include <vector>

namespace pdl::test {
namespace {

constexpr std::size_t max_buffered = 256 * 1024;  // per direction, then stop reading

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Close with RST rather than FIN: the peer sees "connection reset", like a dropped link.
void reset_close(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Loopback connects complete or fail at once, so a blocking connect is fine here.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_nonblocking(fd);
  return fd;
}

struct pipe_pair {
  int fd[2];                // 0: client side, 1: target side
  std::string pending[2];   // bytes waiting to be written TO fd[i]
  bool eof[2] = {false, false};  // fd[i] sent FIN
  bool dead = false;
};

// Moves what @p from can give into the buffer towards @p to; false when the pair must die.
bool pump_read(pipe_pair& p, int from) {
  int to = 1 - from;
  char buf[16384];
  while (p.pending[to].size() < max_buffered) {
    ssize_t n = ::read(p.fd[from], buf, sizeof buf);
    if (n > 0) {
      p.pending[to].append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      p.eof[from] = true;
      return true;
    } else {
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
  }
  return true;
}

bool pump_write(pipe_pair& p, int to) {
  while (!p.pending[to].empty()) {
    ssize_t n = ::send(p.fd[to], p.pending[to].data(), p.pending[to].size(), MSG_NOSIGNAL);
    if (n > 0) {
      p.pending[to].erase(0, static_cast<std::size_t>(n));
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
  }
  // Half-close propagates once everything before the FIN went out.
  if (p.eof[1 - to]) {
    ::shutdown(p.fd[to], SHUT_WR);
  }
  return true;
}

}  // namespace

tcp_proxy::tcp_proxy(int target_port) : target_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("tcp_proxy: socket: " + std::string(strerror(errno)));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::string why = strerror(errno);
    ::close(listen_fd_);
    throw std::runtime_error("tcp_proxy: cannot listen on 127.0.0.1: " + why);
  }
  port_ = ntohs(a.sin_port);
  set_nonblocking(listen_fd_);
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("tcp_proxy: pipe: " + std::string(strerror(errno)));
  }
  thread_ = std::thread([this] { run(); });
}

tcp_proxy::~tcp_proxy() {
  stopping_ = true;
  wake();
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void tcp_proxy::wake() {
  char c = 1;
  [[maybe_unused]] auto n = ::write(wake_pipe_[1], &c, 1);
}

void tcp_proxy::retarget(int target_port) { target_ = target_port; }

void tcp_proxy::set_refuse(bool on) { refuse_ = on; }

void tcp_proxy::cut_all() {
  std::unique_lock lk(cut_mu_);
  std::uint64_t ticket = ++cut_requested_;
  wake();
  cut_cv_.wait(lk, [&] { return cut_done_ >= ticket; });
}

void tcp_proxy::run() {
  std::list<pipe_pair> pairs;
  std::vector<pollfd> fds;
  std::vector<pipe_pair*> owners;  // owners[i] for fds[i] (nullptr: listener or wake pipe)
  while (!stopping_) {
    std::uint64_t cut_ticket = 0;
    {
      std::lock_guard lk(cut_mu_);
      if (cut_done_ < cut_requested_) {
        for (auto& p : pairs) p.dead = true;
        cut_ticket = cut_requested_;
      }
    }
    for (auto it = pairs.begin(); it != pairs.end();) {
      bool finished = it->eof[0] && it->eof[1] && it->pending[0].empty() && it->pending[1].empty();
      if (it->dead || finished) {
        reset_close(it->fd[0]);
        reset_close(it->fd[1]);
        it = pairs.erase(it);
      } else {
        ++it;
      }
    }
    if (cut_ticket != 0) {  // only now: cut_all() returns after the resets went out
      std::lock_guard lk(cut_mu_);
      cut_done_ = cut_ticket;
      cut_cv_.notify_all();
    }
    fds.clear();
    owners.clear();
    fds.push_back({listen_fd_, POLLIN, 0});
    owners.push_back(nullptr);
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    owners.push_back(nullptr);
    for (auto& p : pairs) {
      for (int side = 0; side < 2; ++side) {
        short ev = 0;
        if (!p.eof[side] && p.pending[1 - side].size() < max_buffered) ev |= POLLIN;
        if (!p.pending[side].empty()) ev |= POLLOUT;
        fds.push_back({p.fd[side], ev, 0});
        owners.push_back(&p);
      }
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
      break;
    }
    if (fds[1].revents & POLLIN) {
      char buf[64];
      while (::read(wake_pipe_[0], buf, sizeof buf) > 0) {
      }
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) break;
        ++accepted_;
        int target = target_.load();
        int t = (refuse_ || target <= 0) ? -1 : connect_loopback(target);
        if (t < 0) {
          reset_close(c);
          continue;
        }
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pairs.push_back(pipe_pair{{c, t}, {}, {false, false}, false});
      }
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      pipe_pair& p = *owners[i];
      if (p.dead) continue;
      int side = p.fd[0] == fds[i].fd ? 0 : 1;
      short re = fds[i].revents;
      if (re & (POLLERR | POLLNVAL)) {
        p.dead = true;
        continue;
      }
      if ((re & (POLLIN | POLLHUP)) && !p.eof[side] && !pump_read(p, side)) {
        p.dead = true;
        continue;
      }
      if (!pump_write(p, 1 - side) || !pump_write(p, side)) {
        p.dead = true;
      }
    }
  }
  for (auto& p : pairs) {
    reset_close(p.fd[0]);
    reset_close(p.fd[1]);
  }
  std::lock_guard lk(cut_mu_);
  cut_done_ = cut_requested_;
  cut_cv_.notify_all();
}

}  // namespace pdl::test
