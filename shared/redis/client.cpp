#include "shared/redis/client.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <atomic>
#include <deque>
#include <future>
#include <thread>

#include <fmt/format.h>

#include "shared/log/log.hpp"
#include "shared/net.hpp"

namespace pdl::redis {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("redis");
  return l;
}

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = reply::kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = reply::kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = reply::kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) {
        out.elements.push_back(convert(r->element[i]));
      }
      break;
    default:
      out.type = reply::kind::nil;
  }
  return out;
}

/** hiredis's RESP encoder (handles binary-safe arguments). */
std::string format_command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  if (n < 0 || cmd == nullptr) {
    throw redis_error("could not encode the command (out of memory)");
  }
  std::string out(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

struct reader_deleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  struct pending {
    std::string bytes;
    std::promise<reply> done;
    bool internal = false;  // AUTH / SELECT of this connection: an error reply fails it
  };

  explicit impl(client_options o) : opts(std::move(o)), socket(ioc), resolver(ioc) {}

  client_options opts;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread;
  tcp::socket socket;
  tcp::resolver resolver;
  std::unique_ptr<redisReader, reader_deleter> reader;
  enum class state { idle, connecting, ready } st = state::idle;
  std::uint64_t generation = 0;  // one per connection, so a stale timeout kills nothing newer
  bool writing = false;
  std::deque<std::shared_ptr<pending>> unsent, inflight;
  std::string write_buffer;
  std::array<char, 64 * 1024> read_buffer{};
  std::size_t reply_bytes = 0;  // fed since the last complete reply
  std::atomic<bool> healthy{false};

  // Everything below runs on the client's thread.

  void enqueue(std::shared_ptr<pending> p) {
    unsent.push_back(std::move(p));
    if (st == state::idle) {
      connect();
    } else if (st == state::ready) {
      write_some();
    }
  }

  void connect() {
    st = state::connecting;
    ++generation;
    resolver.async_resolve(
        opts.where.host, std::to_string(opts.where.port),
        [self = shared_from_this(), gen = generation](const boost::system::error_code& ec,
                                                      tcp::resolver::results_type results) {
          if (gen != self->generation) {
            return;
          }
          if (ec) {
            self->fail(fmt::format("cannot resolve {}: {}", self->opts.where.host, ec.message()));
            return;
          }
          net::async_connect(self->socket, results,
                             [self, gen](const boost::system::error_code& ec2, const tcp::endpoint&) {
                               if (gen == self->generation) {
                                 self->on_connect(ec2);
                               }
                             });
        });
  }

  void on_connect(const boost::system::error_code& ec) {
    if (ec) {
      fail(fmt::format("cannot connect to {}: {}", opts.where.describe(), ec.message()));
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    reader.reset(redisReaderCreate());
    reply_bytes = 0;
    // Connection set-up goes before anything the callers queued.
    std::vector<std::shared_ptr<pending>> setup;
    if (!opts.where.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!opts.where.username.empty()) {
        auth.push_back(opts.where.username);
      }
      auth.push_back(opts.where.password.reveal());
      setup.push_back(std::make_shared<pending>(pending{format_command(auth), {}, true}));
    }
    if (opts.where.db != 0) {
      setup.push_back(std::make_shared<pending>(
          pending{format_command({"SELECT", std::to_string(opts.where.db)}), {}, true}));
    }
    unsent.insert(unsent.begin(), setup.begin(), setup.end());
    st = state::ready;
    logger()->info("{}: connected to {}", opts.name, opts.where.describe());
    read_some();
    write_some();
  }

  void write_some() {
    if (writing || unsent.empty() || st != state::ready) {
      return;
    }
    write_buffer.clear();
    while (!unsent.empty()) {
      write_buffer += unsent.front()->bytes;
      unsent.front()->bytes.clear();
      inflight.push_back(std::move(unsent.front()));
      unsent.pop_front();
    }
    writing = true;
    net::async_write(socket, net::buffer(write_buffer),
                     [self = shared_from_this(), gen = generation](
                         const boost::system::error_code& ec, std::size_t) {
                       if (gen != self->generation) {
                         return;
                       }
                       self->writing = false;
                       if (ec) {
                         self->fail(fmt::format("write to {} failed: {}",
                                                self->opts.where.describe(), ec.message()));
                         return;
                       }
                       self->write_some();
                     });
  }

  void read_some() {
    socket.async_read_some(
        net::buffer(read_buffer),
        [self = shared_from_this(), gen = generation](const boost::system::error_code& ec,
                                                      std::size_t n) {
          if (gen == self->generation) {
            self->on_read(ec, n);
          }
        });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      fail(ec == net::error::eof ? fmt::format("{} closed the connection", opts.where.describe())
                                 : fmt::format("read from {} failed: {}",
                                               opts.where.describe(), ec.message()));
      return;
    }
    reply_bytes += n;
    if (reply_bytes > opts.max_reply_bytes) {
      fail(fmt::format("a reply exceeded {} bytes", opts.max_reply_bytes));
      return;
    }
    if (redisReaderFeed(reader.get(), read_buffer.data(), n) != REDIS_OK) {
      fail("out of memory reading a reply");
      return;
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
        fail(fmt::format("protocol error from {}: {}", opts.where.describe(), reader->errstr));
        return;
      }
      if (raw == nullptr) {
        break;
      }
      reply_bytes = 0;
      std::unique_ptr<redisReply, void (*)(void*)> r(static_cast<redisReply*>(raw),
                                                      freeReplyObject);
      if (inflight.empty()) {
        fail("a reply came with no command waiting for it");
        return;
      }
      auto p = std::move(inflight.front());
      inflight.pop_front();
      reply value = convert(r.get());
      if (p->internal && value.type == reply::kind::error) {
        // AUTH / SELECT refused: Redis's text ("WRONGPASS ...") holds no secret.
        fail(fmt::format("{} refused the connection set-up: {}", opts.where.describe(),
                         value.str.substr(0, 200)));
        return;
      }
      healthy = true;
      p->done.set_value(std::move(value));
    }
    read_some();
  }

  /** Drops the connection and fails every command sent or queued on it. */
  void fail(const std::string& why, bool closing = false) {
    if (st != state::idle && !closing) {
      logger()->warn("{}: {}", opts.name, why);
    }
    healthy = false;
    ++generation;
    st = state::idle;
    writing = false;
    boost::system::error_code ignored;
    resolver.cancel();
    socket.close(ignored);
    reader.reset();
    auto failed = std::move(inflight);
    inflight.clear();
    for (auto& p : unsent) {
      failed.push_back(std::move(p));
    }
    unsent.clear();
    for (auto& p : failed) {
      p->done.set_exception(std::make_exception_ptr(redis_error(why)));
    }
  }

  void fail_if(std::uint64_t gen, const std::string& why) {
    if (gen == generation && st != state::idle) {
      fail(why);
    }
  }
};

client::client(client_options options) : impl_(std::make_shared<impl>(std::move(options))) {
  impl_->thread = std::thread([i = impl_] { i->ioc.run(); });
}

client::~client() {
  net::post(impl_->ioc, [i = impl_] { i->fail("the client is closing", true); });
  impl_->work.reset();
  impl_->thread.join();
}

reply client::call(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) {
    timeout = impl_->opts.timeout;
  }
  auto p = std::make_shared<impl::pending>();
  p->bytes = format_command(args);
  auto done = p->done.get_future();
  std::promise<std::uint64_t> gen_promise;
  auto gen = gen_promise.get_future();
  net::post(impl_->ioc, [i = impl_, p, &gen_promise] {
    i->enqueue(p);
    gen_promise.set_value(i->generation);
  });
  const std::uint64_t sent_on = gen.get();
  if (done.wait_for(timeout) != std::future_status::ready) {
    const auto why = fmt::format("no answer from {} within {} ms", impl_->opts.where.describe(),
                                 timeout.count());
    net::post(impl_->ioc, [i = impl_, sent_on, why] { i->fail_if(sent_on, why); });
    throw redis_error(why);
  }
  reply r = done.get();
  if (r.type == reply::kind::error) {
    throw redis_error(r.str.substr(0, 500));
  }
  return r;
}

bool client::healthy() const { return impl_->healthy.load(); }

}  // namespace pdl::redis
