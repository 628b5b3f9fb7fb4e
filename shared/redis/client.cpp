#include "shared/redis/client.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <optional>
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

/** Error replies after which a Sentinel client looks for the primary again: the instance was
 *  demoted, is loading a data set after a restart, lost its primary, or was reconfigured. */
bool means_not_primary(const reply& r) {
  if (r.type != reply::kind::error) {
    return false;
  }
  for (std::string_view code : {"READONLY", "LOADING", "MASTERDOWN", "UNBLOCKED"}) {
    if (std::string_view(r.str).substr(0, code.size()) == code) {
      return true;
    }
  }
  return false;
}

std::string error_code_of(const std::string& error_reply) {
  return error_reply.substr(0, std::min(error_reply.find(' '), std::size_t{32}));
}

/** What one sentinel said: the primary's address, or why not. */
struct sentinel_answer {
  std::optional<host_port> primary;
  std::string error;
};

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || v == 0 || v > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(v);
}

/** Asks @p sentinel for @p master's address within @p timeout (resolving, connecting, writing
 *  and reading). Runs on the client's thread; never throws for a network or protocol failure. */
net::awaitable<sentinel_answer> ask_sentinel(host_port sentinel, std::string master,
                                             std::chrono::milliseconds timeout) {
  const auto ex = co_await net::this_coro::executor;
  boost::system::error_code ec;
  // The resolver has no deadline of its own: a timer cancels it (the weak_ptr keeps the
  // timer's late completion away from a resolver that is gone).
  auto resolver = std::make_shared<tcp::resolver>(ex);
  net::steady_timer timer(ex);
  timer.expires_after(timeout);
  timer.async_wait([weak = std::weak_ptr<tcp::resolver>(resolver)](boost::system::error_code e) {
    if (auto r = weak.lock(); r && !e) {
      r->cancel();
    }
  });
  const auto results = co_await resolver->async_resolve(
      sentinel.host, std::to_string(sentinel.port), net::redirect_error(net::use_awaitable, ec));
  timer.cancel();
  if (ec) {
    co_return sentinel_answer{std::nullopt,
                              ec == net::error::operation_aborted
                                  ? fmt::format("cannot resolve {} within {} ms", sentinel.host,
                                                timeout.count())
                                  : fmt::format("cannot resolve {}: {}", sentinel.host,
                                                ec.message())};
  }
  beast::tcp_stream stream(ex);
  stream.expires_after(timeout);
  co_await stream.async_connect(results, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    co_return sentinel_answer{std::nullopt, ec == beast::error::timeout
                                                ? fmt::format("no connection within {} ms",
                                                              timeout.count())
                                                : ec.message()};
  }
  const std::string command = format_command({"SENTINEL", "get-master-addr-by-name", master});
  co_await net::async_write(stream, net::buffer(command),
                            net::redirect_error(net::use_awaitable, ec));
  std::unique_ptr<redisReader, reader_deleter> reader(redisReaderCreate());
  std::array<char, 4096> buf{};
  void* raw = nullptr;
  std::size_t total = 0;
  while (!ec && raw == nullptr) {
    const std::size_t n = co_await stream.async_read_some(
        net::buffer(buf), net::redirect_error(net::use_awaitable, ec));
    total += n;
    if (ec || total > 64 * 1024 || redisReaderFeed(reader.get(), buf.data(), n) != REDIS_OK ||
        redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
      break;
    }
  }
  if (raw == nullptr) {
    co_return sentinel_answer{std::nullopt, ec == beast::error::timeout
                                                ? fmt::format("no answer within {} ms",
                                                              timeout.count())
                                            : ec ? ec.message()
                                                 : std::string("an unreadable answer")};
  }
  std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw),
                                                      freeReplyObject);
  const reply r = convert(owned.get());
  if (r.type == reply::kind::nil) {
    co_return sentinel_answer{std::nullopt, fmt::format("does not know a master '{}'", master)};
  }
  if (r.type == reply::kind::error) {
    co_return sentinel_answer{
        std::nullopt,
        fmt::format("answered {}{}", r.str.substr(0, 200),
                    error_code_of(r.str) == "NOAUTH"
                        ? " (sentinels are asked without a password: see docs/replicas.md)"
                        : "")};
  }
  if (r.type != reply::kind::array || r.elements.size() != 2 ||
      r.elements[0].type != reply::kind::string || r.elements[0].str.empty() ||
      r.elements[0].str.size() > 255) {
    co_return sentinel_answer{std::nullopt, "answered something else than [host, port]"};
  }
  const auto port = parse_port(r.elements[1].str);
  if (!port) {
    co_return sentinel_answer{std::nullopt, "answered a port that is not a number from 1 to 65535"};
  }
  co_return sentinel_answer{host_port{r.elements[0].str, *port}, {}};
}

/** Where the sentinels said the primary is, and which of them said it. */
struct primary_lookup {
  std::optional<host_port> primary;
  std::size_t answered_by = 0;  // index into the order asked
  std::string errors;           // every sentinel's failure, when none answered
};

net::awaitable<primary_lookup> find_primary(std::vector<host_port> order, std::string master,
                                            std::chrono::milliseconds per_sentinel) {
  primary_lookup out;
  for (std::size_t i = 0; i < order.size(); ++i) {
    auto a = co_await ask_sentinel(order[i], master, per_sentinel);
    if (a.primary) {
      out.primary = std::move(a.primary);
      out.answered_by = i;
      co_return out;
    }
    out.errors += fmt::format("{}{}: {}", out.errors.empty() ? "" : "; ", order[i].describe(),
                              a.error);
  }
  co_return out;
}

}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  struct pending {
    std::string bytes;
    std::promise<reply> done;
    /** Set for this connection's own set-up (AUTH, SELECT, ROLE): a non-empty result fails the
     *  connection with it. */
    std::function<std::string(const reply&)> setup_check;
  };

  explicit impl(client_options o)
      : opts(std::move(o)), sentinel_order(opts.where.sentinels), socket(ioc), resolver(ioc) {}

  client_options opts;
  std::vector<host_port> sentinel_order;  // the one that answered last goes first
  host_port primary;                      // with Sentinel: the address connected to (or last)
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

  /** The address shown in logs and errors (never a password). */
  std::string where() const {
    if (!opts.where.uses_sentinel()) {
      return opts.where.describe();
    }
    return fmt::format("{} (primary '{}'{})", primary.host.empty() ? "?" : primary.describe(),
                       opts.where.master_name,
                       opts.where.db != 0 ? fmt::format(", db {}", opts.where.db) : "");
  }

  void enqueue(std::vector<std::shared_ptr<pending>> ps) {
    for (auto& p : ps) {
      unsent.push_back(std::move(p));
    }
    if (st == state::idle) {
      connect();
    } else if (st == state::ready) {
      write_some();
    }
  }

  void connect() {
    st = state::connecting;
    ++generation;
    if (!opts.where.uses_sentinel()) {
      connect_to(opts.where.host, opts.where.port);
      return;
    }
    net::co_spawn(ioc, find_primary(sentinel_order, opts.where.master_name, opts.sentinel_timeout),
                  [self = shared_from_this(), gen = generation](std::exception_ptr e,
                                                                primary_lookup found) {
                    if (gen == self->generation) {
                      self->on_primary_found(e, std::move(found));
                    }
                  });
  }

  void on_primary_found(std::exception_ptr e, primary_lookup found) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        fail(fmt::format("asking the sentinels failed: {}", x.what()));
      }
      return;
    }
    if (!found.primary) {
      fail(fmt::format("no sentinel named the primary '{}': {}", opts.where.master_name,
                       found.errors));
      return;
    }
    if (found.answered_by != 0) {
      std::rotate(sentinel_order.begin(),
                  sentinel_order.begin() + static_cast<std::ptrdiff_t>(found.answered_by),
                  sentinel_order.begin() + static_cast<std::ptrdiff_t>(found.answered_by) + 1);
    }
    if (primary.host.empty()) {
      logger()->info("{}: the sentinels name {} as the primary '{}'", opts.name,
                     found.primary->describe(), opts.where.master_name);
    } else if (!(primary == *found.primary)) {
      logger()->warn("{}: failover: the primary '{}' is now {} (was {})", opts.name,
                     opts.where.master_name, found.primary->describe(), primary.describe());
    }
    primary = *found.primary;
    connect_to(primary.host, primary.port);
  }

  void connect_to(const std::string& host, std::uint16_t port) {
    resolver.async_resolve(
        host, std::to_string(port),
        [self = shared_from_this(), gen = generation](const boost::system::error_code& ec,
                                                      tcp::resolver::results_type results) {
          if (gen != self->generation) {
            return;
          }
          if (ec) {
            self->fail(fmt::format("cannot resolve {}: {}", self->where(), ec.message()));
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
      fail(fmt::format("cannot connect to {}: {}", where(), ec.message()));
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    reader.reset(redisReaderCreate());
    reply_bytes = 0;
    // Connection set-up goes before anything the callers queued.
    std::vector<std::shared_ptr<pending>> setup;
    // AUTH / SELECT refused: Redis's text ("WRONGPASS ...") holds no secret.
    const auto refused = [this](const reply& r) {
      return r.type == reply::kind::error
                 ? fmt::format("{} refused the connection set-up: {}", where(),
                               r.str.substr(0, 200))
                 : std::string();
    };
    if (!opts.where.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!opts.where.username.empty()) {
        auth.push_back(opts.where.username);
      }
      auth.push_back(opts.where.password.reveal());
      setup.push_back(std::make_shared<pending>(pending{format_command(auth), {}, refused}));
    }
    if (opts.where.db != 0) {
      setup.push_back(std::make_shared<pending>(
          pending{format_command({"SELECT", std::to_string(opts.where.db)}), {}, refused}));
    }
    if (opts.where.uses_sentinel()) {
      // The sentinels' answer may be stale (a failover under way): only a master will do.
      setup.push_back(std::make_shared<pending>(pending{
          format_command({"ROLE"}), {}, [this, refused](const reply& r) {
            if (auto why = refused(r); !why.empty()) {
              return why;
            }
            if (r.type != reply::kind::array || r.elements.empty() ||
                r.elements[0].str != "master") {
              return fmt::format("{} is not a master (ROLE: {}): asking the sentinels again",
                                 where(),
                                 r.elements.empty() ? std::string("?")
                                                    : r.elements[0].str.substr(0, 32));
            }
            return std::string();
          }}));
    }
    unsent.insert(unsent.begin(), setup.begin(), setup.end());
    st = state::ready;
    logger()->info("{}: connected to {}", opts.name, where());
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
                         self->fail(fmt::format("write to {} failed: {}", self->where(),
                                                ec.message()));
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
      fail(ec == net::error::eof
               ? fmt::format("{} closed the connection", where())
               : fmt::format("read from {} failed: {}", where(), ec.message()));
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
        fail(fmt::format("protocol error from {}: {}", where(), reader->errstr));
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
      if (p->setup_check) {
        if (auto why = p->setup_check(value); !why.empty()) {
          fail(why);
          return;
        }
      }
      const bool drop = opts.where.uses_sentinel() && means_not_primary(value);
      const std::string code = drop ? error_code_of(value.str) : std::string();
      healthy = !drop;
      p->done.set_value(std::move(value));
      if (drop) {
        fail(fmt::format("{} answered {}: asking the sentinels for the primary again", where(),
                         code));
        return;
      }
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
  reply r = std::move(pipeline({args}, timeout).front());
  if (r.type == reply::kind::error) {
    throw redis_error(r.str.substr(0, 500));
  }
  return r;
}

std::vector<reply> client::pipeline(const std::vector<std::vector<std::string>>& commands,
                                    std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) {
    timeout = impl_->opts.timeout;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::shared_ptr<impl::pending>> ps;
  std::vector<std::future<reply>> done;
  for (const auto& args : commands) {
    auto p = std::make_shared<impl::pending>();
    p->bytes = format_command(args);
    done.push_back(p->done.get_future());
    ps.push_back(std::move(p));
  }
  std::promise<std::uint64_t> gen_promise;
  auto gen = gen_promise.get_future();
  // One post: the commands join the queue together, so they share one connection's fate.
  net::post(impl_->ioc, [i = impl_, ps = std::move(ps), &gen_promise]() mutable {
    i->enqueue(std::move(ps));
    gen_promise.set_value(i->generation);
  });
  const std::uint64_t sent_on = gen.get();
  std::vector<reply> out;
  out.reserve(done.size());
  for (auto& d : done) {
    if (d.wait_until(deadline) != std::future_status::ready) {
      const auto why = fmt::format("no answer from {} within {} ms", impl_->opts.where.describe(),
                                   timeout.count());
      net::post(impl_->ioc, [i = impl_, sent_on, why] { i->fail_if(sent_on, why); });
      throw redis_error(why);
    }
    out.push_back(d.get());  // rethrows the connection's failure
  }
  return out;
}

bool client::healthy() const { return impl_->healthy.load(); }

}  // namespace pdl::redis
