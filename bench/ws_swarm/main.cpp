// bench_ws_swarm: one process, many plain OPAL WebSocket subscribers (no X-PDL-Protocol), for the
// fan-out benchmarks. Opens --count connections, spread evenly over the --url servers (repeat
// the flag for replicas), with "Authorization: Bearer <token>", subscribes each to --topic and,
// once every subscription is confirmed, writes the count to --ready-file. Then it times
// notifies (each answered like OPAL's client): --expect rounds, round k being every
// connection's k-th notify; when a round is complete, --result-file is rewritten with one line
// "<first_ns> <last_ns> <count>" per complete round (CLOCK_REALTIME of the first and of the last
// notify of the round). Runs until SIGTERM.
//   bench_ws_swarm --url ws://127.0.0.1:PORT/ws [--url ...] --token-file F --count 10000
//                  --topic bench --ready-file R --result-file OUT [--concurrency 128]
//                  [--expect 1] [--sources 1] [--source-offset 0]
// --sources N: connect from 127.0.0.(1+offset) .. 127.0.0.(N+offset) (one source address has
// ~28,000 ephemeral ports towards one server port; several swarms use different offsets).
// Exit status: 0 on SIGTERM, 1 when a connection fails before ready (the reason on stderr).
//
// Set-up (connect, upgrade, subscribe) uses Beast; the timed part does not. Once subscribed, a
// connection's socket is released to one epoll loop that reads the server's unmasked frames
// and answers with masked ones by hand: the swarm shares the machine with the server it
// measures, so every microsecond it spends per notify is one the server does not get. It
// checks what it relies on (frame header, the notify's method and call id) and fails loudly on
// anything else.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "shared/net.hpp"
#include "shared/rpc/rpc.hpp"

namespace {

using namespace pdl;

struct target {
  std::string host;
  std::string port;
  std::string path = "/ws";
};

struct options {
  std::vector<target> urls;
  std::string token;
  std::size_t count = 10000;
  std::string topic = "bench";
  std::string ready_file;
  std::string result_file;
  std::size_t concurrency = 128;
  std::size_t expect = 1;
  std::size_t sources = 1;
  std::size_t source_offset = 0;
};

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void write_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::rename(tmp.c_str(), path.c_str());
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "bench_ws_swarm: %s\n", why.c_str());
  std::_Exit(1);
}

target parse_url(const std::string& v) {
  // ws://HOST:PORT/PATH only: the benchmark runs on loopback without TLS.
  if (v.rfind("ws://", 0) != 0) throw std::invalid_argument("--url must start with ws://");
  target t;
  auto rest = v.substr(5);
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--url needs a port");
  t.host = hostport.substr(0, colon);
  t.port = hostport.substr(colon + 1);
  return t;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    std::string v = argv[++i];
    if (flag == "--url") {
      o.urls.push_back(parse_url(v));
    } else if (flag == "--token-file") {
      std::ifstream in(v);
      std::getline(in, o.token);
      if (o.token.empty()) throw std::invalid_argument("--token-file: empty or unreadable");
    } else if (flag == "--count") {
      o.count = std::stoul(v);
    } else if (flag == "--topic") {
      o.topic = v;
    } else if (flag == "--ready-file") {
      o.ready_file = v;
    } else if (flag == "--result-file") {
      o.result_file = v;
    } else if (flag == "--concurrency") {
      o.concurrency = std::max<std::size_t>(1, std::stoul(v));
    } else if (flag == "--expect") {
      o.expect = std::max<std::size_t>(1, std::stoul(v));
    } else if (flag == "--source-offset") {
      o.source_offset = std::min<std::size_t>(200, std::stoul(v));
    } else if (flag == "--sources") {
      o.sources = std::min<std::size_t>(250, std::max<std::size_t>(1, std::stoul(v)));
    } else {
      throw std::invalid_argument("unknown flag " + flag);
    }
  }
  if (o.urls.empty() || o.ready_file.empty() || o.result_file.empty()) {
    throw std::invalid_argument("--url, --ready-file and --result-file are required");
  }
  return o;
}

using ws_stream = websocket::stream<tcp::socket>;

/** Opens and subscribes the connections; hands each subscribed socket's descriptor over. */
class opener {
 public:
  opener(net::io_context& io, const options& o) : io_(io), opt_(o) {}

  std::vector<int> run() {
    tcp::resolver r(io_);
    for (const auto& u : opt_.urls) {
      endpoints_.push_back(*r.resolve(u.host, u.port).begin());
    }
    for (std::size_t i = 0; i < opt_.concurrency; ++i) {
      net::co_spawn(io_, open_some(), [](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            fail(std::string("connection failed: ") + ex.what());
          }
        }
      });
    }
    io_.run();
    return std::move(fds_);
  }

 private:
  // Takes the next connection index until all are open: bounded handshakes in flight, so the
  // servers' accept backlogs never overflow.
  net::awaitable<void> open_some() {
    while (next_ < opt_.count) {
      const std::size_t i = next_++;
      const std::size_t which = i % opt_.urls.size();
      const auto& u = opt_.urls[which];
      auto ws = std::make_unique<ws_stream>(io_);
      auto& sock = ws->next_layer();
      sock.open(tcp::v4());
      if (opt_.sources > 1 || opt_.source_offset > 0) {
        // The port is chosen at connect, per destination (else ~28,000 per source address).
        int one = 1;
        ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        auto src = net::ip::make_address_v4(
            0x7F000001u + static_cast<unsigned>(opt_.source_offset + i % opt_.sources));
        sock.bind(tcp::endpoint(src, 0));
      }
      co_await sock.async_connect(endpoints_[which], net::use_awaitable);
      ws->set_option(websocket::stream_base::decorator([tok = opt_.token](websocket::request_type& req) {
        req.set(http::field::authorization, "Bearer " + tok);
      }));
      co_await ws->async_handshake(u.host + ":" + u.port, u.path, net::use_awaitable);
      std::string call_id = rpc::new_call_id();
      std::string frame = rpc::encode_request("subscribe", rpc::encode_topics_arguments({opt_.topic}),
                                              call_id);
      co_await ws->async_write(net::buffer(frame), net::use_awaitable);
      beast::flat_buffer buf;
      co_await ws->async_read(buf, net::use_awaitable);
      auto f = rpc::decode(beast::buffers_to_string(buf.data()));
      if (!f.resp || f.resp->call_id != call_id || f.resp->result_json != "true") {
        throw std::runtime_error("subscribe not confirmed");
      }
      // The server sends nothing more until the publish: no byte is left in Beast's buffers.
      fds_.push_back(sock.release());
    }
  }

  net::io_context& io_;
  const options& opt_;
  std::vector<tcp::endpoint> endpoints_;
  std::size_t next_ = 0;
  std::vector<int> fds_;
};

/** One connection in the epoll loop. */
struct conn {
  int fd = -1;
  std::string pending;  // an incomplete frame's bytes
  std::size_t got = 0;  // notifies received
};

/** A client frame (FIN, masked with key 0, so the payload goes as is): RFC 6455 5.2. */
std::string client_frame(std::uint8_t opcode, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int s = 56; s >= 0; s -= 8) f.push_back(static_cast<char>((payload.size() >> s) & 0xFF));
  }
  f.append(4, '\0');
  f.append(payload);
  return f;
}

class reader {
 public:
  reader(const options& o, std::vector<int> fds) : opt_(o) {
    ep_ = ::epoll_create1(0);
    if (ep_ < 0) fail("epoll_create1 failed");
    conns_.resize(fds.size());
    for (std::size_t i = 0; i < fds.size(); ++i) {
      conns_[i].fd = fds[i];
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fds[i], &ev) != 0) fail("epoll_ctl failed");
    }
    buf_.resize(256 * 1024);
    rounds_.resize(opt_.expect);
  }

  [[noreturn]] void run() {
    std::vector<epoll_event> events(1024);
    for (;;) {
      int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("epoll_wait failed");
      }
      for (int k = 0; k < n; ++k) {
        on_readable(conns_[events[k].data.u64]);
      }
    }
  }

 private:
  void on_readable(conn& c) {
    for (;;) {
      ssize_t r = ::recv(c.fd, buf_.data(), buf_.size(), MSG_DONTWAIT);
      if (r > 0) {
        std::string_view in(buf_.data(), static_cast<std::size_t>(r));
        if (c.pending.empty()) {
          std::size_t used = consume(c, in);
          c.pending.assign(in.substr(used));
        } else {
          c.pending.append(in);
          std::size_t used = consume(c, c.pending);
          c.pending.erase(0, used);
        }
        if (static_cast<std::size_t>(r) < buf_.size()) return;
        continue;
      }
      if (r == 0) fail("a server closed a connection");
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      fail(std::string("recv failed: ") + std::strerror(errno));
    }
  }

  /** Handles the whole frames at the start of @p in. @return the bytes used. */
  std::size_t consume(conn& c, std::string_view in) {
    std::size_t at = 0;
    for (;;) {
      std::string_view rest = in.substr(at);
      if (rest.size() < 2) return at;
      auto b0 = static_cast<std::uint8_t>(rest[0]);
      auto b1 = static_cast<std::uint8_t>(rest[1]);
      if ((b0 & 0x80) == 0 || (b1 & 0x80) != 0) fail("a fragmented or masked server frame");
      std::size_t header = 2;
      std::uint64_t len = b1 & 0x7F;
      if (len == 126) {
        if (rest.size() < 4) return at;
        len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(rest[2])) << 8) |
              static_cast<std::uint8_t>(rest[3]);
        header = 4;
      } else if (len == 127) {
        if (rest.size() < 10) return at;
        len = 0;
        for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<std::uint8_t>(rest[i]);
        header = 10;
      }
      if (rest.size() < header + len) return at;
      on_frame(c, b0 & 0x0F, rest.substr(header, len));
      at += header + len;
    }
  }

  void on_frame(conn& c, std::uint8_t opcode, std::string_view payload) {
    if (opcode == 0x9) {  // ping: pong with the same payload
      send_all(c, client_frame(0xA, payload));
      return;
    }
    if (opcode != 0x1) return;  // pong, close (the server going away ends the run), binary
    auto t = now_ns();
    // OPAL's RPC frames (shared/rpc): {"request": {"method": "notify", ..., "call_id": "<hex>"}}
    if (payload.find("\"method\": \"notify\"") == std::string_view::npos) return;
    constexpr std::string_view key = "\"call_id\": \"";
    auto k = payload.rfind(key);
    auto end = k == std::string_view::npos ? k : payload.find('"', k + key.size());
    if (end == std::string_view::npos) fail("a notify without a call id");
    std::string_view call_id = payload.substr(k + key.size(), end - k - key.size());
    if (c.got < rounds_.size()) {
      round& r = rounds_[c.got];
      if (r.first_ns == 0) r.first_ns = t;
      r.last_ns = t;
      if (++r.complete == conns_.size()) {
        std::string text;
        for (const auto& x : rounds_) {
          if (x.complete != conns_.size()) break;
          text += std::to_string(x.first_ns) + " " + std::to_string(x.last_ns) + " " +
                  std::to_string(x.complete) + "\n";
        }
        write_atomically(opt_.result_file, text);
      }
    }
    ++c.got;
    // Answered like OPAL's client does (after the timestamp: the answer is not delivery).
    send_all(c, client_frame(0x1, rpc::encode_response("\"None\"", "str", std::string(call_id))));
  }

  void send_all(conn& c, const std::string& f) {
    std::size_t off = 0;
    while (off < f.size()) {
      ssize_t w = ::send(c.fd, f.data() + off, f.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          // The server is not reading: wait for room (rare, and an answer is small).
          pollfd p{c.fd, POLLOUT, 0};
          ::poll(&p, 1, 1000);
          continue;
        }
        fail(std::string("send failed: ") + std::strerror(errno));
      }
      off += static_cast<std::size_t>(w);
    }
  }

  const options& opt_;
  int ep_ = -1;
  std::vector<conn> conns_;
  std::vector<char> buf_;
  struct round {
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    std::size_t complete = 0;
  };
  std::vector<round> rounds_;
};

}  // namespace

int main(int argc, char** argv) {
  options opt;
  try {
    opt = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ws_swarm: %s\n", e.what());
    return 2;
  }
  // One descriptor per connection: take the hard limit.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::signal(SIGTERM, [](int) { std::_Exit(0); });  // the kernel closes the sockets
  std::signal(SIGINT, [](int) { std::_Exit(0); });
  std::vector<int> fds;
  try {
    net::io_context io(1);
    fds = opener(io, opt).run();
  } catch (const std::exception& e) {
    fail(e.what());
  }
  if (fds.size() != opt.count) fail("not every connection was opened");
  reader rd(opt, std::move(fds));
  write_atomically(opt.ready_file, std::to_string(opt.count) + "\n");
  rd.run();
}
