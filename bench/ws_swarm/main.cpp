// bench_ws_swarm: one process, many plain OPAL WebSocket subscribers (no X-PDL-Protocol), for the
// fan-out benchmark. Opens --count connections to --url with "Authorization: Bearer <token>",
// subscribes each to --topic and, once every subscription is confirmed, writes the count to
// --ready-file. Then it times notifies: when every connection has received --expect notify
// frames (answered like OPAL's client), it writes "<first_ns> <last_ns> <count>\n" to
// --result-file (CLOCK_REALTIME of the first and of the last notify received). Runs until SIGTERM.
//   bench_ws_swarm --url ws://127.0.0.1:PORT/ws --token-file F --count 10000 --topic bench
//                  --ready-file R --result-file OUT [--concurrency 128] [--expect 1]
// Exit status: 0 on SIGTERM, 1 when a connection fails before ready (the reason on stderr).
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/net.hpp"
#include "shared/rpc/rpc.hpp"

namespace {

using namespace pdl;

struct options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string target = "/ws";
  std::string token;
  std::size_t count = 10000;
  std::string topic = "bench";
  std::string ready_file;
  std::string result_file;
  std::size_t concurrency = 128;
  std::size_t expect = 1;
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

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    std::string v = argv[++i];
    if (flag == "--url") {
      // ws://HOST:PORT/PATH only: the benchmark runs on loopback without TLS.
      if (v.rfind("ws://", 0) != 0) throw std::invalid_argument("--url must start with ws://");
      auto rest = v.substr(5);
      auto slash = rest.find('/');
      auto hostport = rest.substr(0, slash);
      o.target = slash == std::string::npos ? "/" : rest.substr(slash);
      auto colon = hostport.rfind(':');
      if (colon == std::string::npos) throw std::invalid_argument("--url needs a port");
      o.host = hostport.substr(0, colon);
      o.port = hostport.substr(colon + 1);
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
    } else {
      throw std::invalid_argument("unknown flag " + flag);
    }
  }
  if (o.port.empty() || o.ready_file.empty() || o.result_file.empty()) {
    throw std::invalid_argument("--url, --ready-file and --result-file are required");
  }
  return o;
}

using ws_stream = websocket::stream<tcp::socket>;

class swarm {
 public:
  swarm(net::io_context& io, options o) : io_(io), opt_(std::move(o)) {}

  void start() {
    tcp::resolver r(io_);
    endpoint_ = *r.resolve(opt_.host, opt_.port).begin();
    for (std::size_t i = 0; i < opt_.concurrency; ++i) {
      net::co_spawn(io_, opener(), [](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::fprintf(stderr, "bench_ws_swarm: connection failed: %s\n", ex.what());
          }
          std::_Exit(1);
        }
      });
    }
  }

 private:
  // Takes the next connection index until all are open: bounded handshakes in flight, so the
  // server's accept backlog never overflows.
  net::awaitable<void> opener() {
    while (next_ < opt_.count) {
      ++next_;
      auto ws = std::make_shared<ws_stream>(io_);
      co_await ws->next_layer().async_connect(endpoint_, net::use_awaitable);
      ws->set_option(websocket::stream_base::decorator([tok = opt_.token](websocket::request_type& req) {
        req.set(http::field::authorization, "Bearer " + tok);
      }));
      co_await ws->async_handshake(opt_.host + ":" + opt_.port, opt_.target, net::use_awaitable);
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
      net::co_spawn(io_, reader(ws), net::detached);
      if (++subscribed_ == opt_.count) {
        write_atomically(opt_.ready_file, std::to_string(subscribed_) + "\n");
      }
    }
  }

  net::awaitable<void> reader(std::shared_ptr<ws_stream> ws) {
    beast::flat_buffer buf;
    std::size_t got = 0;
    beast::error_code ec;
    while (true) {
      buf.clear();
      co_await ws->async_read(buf, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        co_return;  // the server went away; nothing left to time
      }
      auto t = now_ns();
      rpc::frame f;
      try {
        f = rpc::decode(beast::buffers_to_string(buf.data()));
      } catch (const std::exception&) {
        continue;
      }
      if (!f.req || f.req->method != "notify") {
        continue;
      }
      if (first_ns_ == 0) first_ns_ = t;
      if (++got == opt_.expect) {
        last_ns_ = t;
        if (++complete_ == opt_.count) {
          write_atomically(opt_.result_file, std::to_string(first_ns_) + " " +
                                                 std::to_string(last_ns_) + " " +
                                                 std::to_string(complete_) + "\n");
        }
      }
      // Answered like OPAL's client does (after the timestamp: the answer is not delivery).
      std::string answer = rpc::encode_response("\"None\"", "str", f.req->call_id);
      co_await ws->async_write(net::buffer(answer), net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  net::io_context& io_;
  options opt_;
  tcp::endpoint endpoint_;
  std::size_t next_ = 0;
  std::size_t subscribed_ = 0;
  std::size_t complete_ = 0;
  std::int64_t first_ns_ = 0;
  std::int64_t last_ns_ = 0;
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
  net::io_context io(1);
  swarm s(io, opt);
  net::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([](const beast::error_code&, int) {
    std::fflush(stdout);
    std::_Exit(0);  // 10k sockets: the kernel closes them faster than destructors would
  });
  try {
    s.start();
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ws_swarm: %s\n", e.what());
    return 1;
  }
  return 0;
}
