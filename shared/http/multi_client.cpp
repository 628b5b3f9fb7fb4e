// libcurl's multi interface on Asio (multi_client.hpp). Everything libcurl does happens on the
// client's thread: curl_multi_socket_action from socket waits and the timer, handles added and
// removed there, completions called there. Sockets are opened and closed through our callbacks
// so a descriptor is always released from Asio's reactor before libcurl closes it.
#include "shared/http/multi_client.hpp"

#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <thread>
#include <vector>

#include "shared/http/transfer.hpp"
#include "shared/log/log.hpp"

namespace pdl::http_client {
namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("http.multi");
  return l;
}

/** Which open file @p fd is (a number libcurl closed itself, e.g. its resolver's socket pair,
 *  may come back as another file). */
std::pair<dev_t, ino_t> identity(curl_socket_t fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return {0, 0};
  }
  return {st.st_dev, st.st_ino};
}

/** One socket libcurl asked us to watch. */
struct watched {
  watched(asio::io_context& ioc, curl_socket_t fd) : sd(ioc, fd), file(identity(fd)) {}
  asio::posix::stream_descriptor sd;
  std::pair<dev_t, ino_t> file;
  int want = 0;          // CURL_POLL_IN / OUT / INOUT
  bool reading = false;  // a read wait is pending
  bool writing = false;
  bool alive = true;     // false once libcurl is done with it
};

/** One request from start() to its completion. Never moves (the transfer refers to req). */
struct job {
  request req;
  body_sink sink;
  multi_client::completion done;
  std::unique_ptr<detail::transfer> t;
};

}  // namespace

struct multi_client::impl {
  explicit impl(multi_options o)
      : options(o), work(asio::make_work_guard(ioc)), timer(ioc), idle_timer(ioc) {}

  multi_options options;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer timer;
  asio::steady_timer idle_timer;
  bool idle_watch = false;  // an idle check is scheduled
  CURLM* multi = nullptr;
  std::map<curl_socket_t, std::shared_ptr<watched>> sockets;
  std::map<CURL*, std::shared_ptr<job>> jobs;  // by the current hop's easy handle
  std::atomic<std::size_t> active{0};
  bool closing = false;
  std::thread thread;

  detail::runner_options runner() {
    detail::runner_options r;
    r.open_socket = &impl::open_socket;
    r.close_socket = &impl::close_socket;
    r.socket_user = this;
    return r;
  }

  static curl_socket_t open_socket(void*, curlsocktype, curl_sockaddr* a) {
    return ::socket(a->family, a->socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->protocol);
  }

  static int close_socket(void* user, curl_socket_t fd) {
    static_cast<impl*>(user)->forget(fd);
    return ::close(fd);
  }

  /** Stops watching @p fd (its waits are cancelled) without closing it: libcurl owns it. */
  void forget(curl_socket_t fd) {
    auto it = sockets.find(fd);
    if (it == sockets.end()) {
      return;
    }
    it->second->alive = false;
    it->second->sd.release();
    sockets.erase(it);
  }

  static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
    auto* self = static_cast<impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      self->forget(fd);
      return 0;
    }
    if (auto it = self->sockets.find(fd);
        it != self->sockets.end() && it->second->file != identity(fd)) {
      self->forget(fd);  // closed behind our back and reused: the old registration is dead
    }
    auto& w = self->sockets[fd];
    if (!w) {
      try {
        w = std::make_shared<watched>(self->ioc, fd);
      } catch (const std::exception& e) {
        SPDLOG_LOGGER_ERROR(logger(), "cannot watch socket {}: {}", fd, e.what());
        self->sockets.erase(fd);
        return -1;  // libcurl fails the transfer
      }
    }
    w->want = what;
    self->arm(w, fd);
    return 0;
  }

  void arm(const std::shared_ptr<watched>& w, curl_socket_t fd) {
    if ((w->want & CURL_POLL_IN) != 0 && !w->reading) {
      w->reading = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_read, [this, w, fd](error_code ec) {
        w->reading = false;
        if (ec || !w->alive) {
          return;
        }
        action(fd, CURL_CSELECT_IN);
        if (w->alive) {
          arm(w, fd);
        }
      });
    }
    if ((w->want & CURL_POLL_OUT) != 0 && !w->writing) {
      w->writing = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_write, [this, w, fd](error_code ec) {
        w->writing = false;
        if (ec || !w->alive) {
          return;
        }
        action(fd, CURL_CSELECT_OUT);
        if (w->alive) {
          arm(w, fd);
        }
      });
    }
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<impl*>(user);
    if (timeout_ms < 0) {
      self->timer.cancel();
      return 0;
    }
    // Never calls back into libcurl from here (its rule): the wait runs it.
    self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer.async_wait([self](error_code ec) {
      if (!ec) {
        self->action(CURL_SOCKET_TIMEOUT, 0);
      }
    });
    return 0;
  }

  void action(curl_socket_t fd, int events) {
    int running = 0;
    curl_multi_socket_action(multi, fd, events, &running);
    collect();
  }

  /** Finished hops: the next hop of a redirect goes back in; the rest complete. */
  void collect() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) {
        CURL* easy = msg->easy_handle;
        const CURLcode rc = msg->data.result;  // msg dies with the handle's removal
        finish(easy, rc);
      }
    }
  }

  /** Ends the hop running on @p easy with @p rc. */
  void finish(CURL* easy, CURLcode rc) {
    auto it = jobs.find(easy);
    if (it == jobs.end()) {
      curl_multi_remove_handle(multi, easy);
      return;
    }
    std::shared_ptr<job> j = std::move(it->second);
    jobs.erase(it);
    curl_multi_remove_handle(multi, easy);
    detail::transfer::outcome out;
    try {
      out = j->t->finished(rc);
    } catch (...) {
      complete(*j, transport_error{transport_error::code::aborted, "transfer aborted"},
               std::current_exception());
      return;
    }
    if (auto* f = std::get_if<detail::failure>(&out)) {
      complete(*j, detail::to_error(*f, j->req), nullptr);
    } else if (auto* r = std::get_if<response>(&out)) {
      complete(*j, std::move(*r), nullptr);
    } else {
      add(std::move(j));  // the redirect's next hop
    }
  }

  /** libcurl runs a silent transfer only at its own deadlines, so the idle timeout is checked
   *  here, every quarter second while transfers run. */
  void watch_idle() {
    if (idle_watch || jobs.empty() || closing) {
      return;
    }
    idle_watch = true;
    idle_timer.expires_after(std::chrono::milliseconds(250));
    idle_timer.async_wait([this](error_code ec) {
      idle_watch = false;
      if (ec || closing) {
        return;
      }
      std::vector<CURL*> expired;
      for (auto& [easy, j] : jobs) {
        if (j->req.idle_timeout.count() > 0 && detail::idle_expired_now(j->t->current())) {
          expired.push_back(easy);
        }
      }
      for (CURL* easy : expired) {
        finish(easy, CURLE_ABORTED_BY_CALLBACK);
      }
      watch_idle();
    });
  }

  void add(std::shared_ptr<job> j) {
    CURL* easy = j->t->current().easy.get();
    jobs.emplace(easy, j);
    watch_idle();
    if (const CURLMcode mc = curl_multi_add_handle(multi, easy); mc != CURLM_OK) {
      jobs.erase(easy);
      complete(*j,
               transport_error{transport_error::code::other,
                               std::string("libcurl refused the transfer: ") +
                                   curl_multi_strerror(mc)},
               nullptr);
    }
  }

  void begin(std::shared_ptr<job> j) {
    if (closing) {
      complete(*j, transport_error{transport_error::code::aborted, "the client is closing"},
               nullptr);
      return;
    }
    j->t = std::make_unique<detail::transfer>(j->req, j->sink, runner());
    std::optional<detail::failure> f;
    try {
      f = j->t->start();
    } catch (...) {
      complete(*j, transport_error{transport_error::code::aborted, "transfer aborted"},
               std::current_exception());
      return;
    }
    if (f) {
      complete(*j, detail::to_error(*f, j->req), nullptr);
      return;
    }
    add(std::move(j));
  }

  void complete(job& j, std::variant<response, transport_error> result, std::exception_ptr error) {
    --active;
    try {
      j.done(std::move(result), error);
    } catch (const std::exception& e) {
      SPDLOG_LOGGER_ERROR(logger(), "a transfer's completion threw: {}", e.what());
    } catch (...) {
      SPDLOG_LOGGER_ERROR(logger(), "a transfer's completion threw");
    }
  }

  /** On the client's thread: every running transfer ends as aborted, libcurl lets go. */
  void shut_down() {
    closing = true;
    auto running = std::move(jobs);
    jobs.clear();
    for (auto& [easy, j] : running) {
      curl_multi_remove_handle(multi, easy);
      complete(*j, transport_error{transport_error::code::aborted, "the client is closing"},
               nullptr);
    }
    running.clear();
    curl_multi_cleanup(multi);  // closes kept connections through close_socket
    multi = nullptr;
    for (auto& [fd, w] : sockets) {
      w->alive = false;
      w->sd.release();
    }
    sockets.clear();
    timer.cancel();
    idle_timer.cancel();
    work.reset();
  }
};

multi_client::multi_client(multi_options options) : impl_(std::make_unique<impl>(options)) {
  detail::global_init();
  impl_->multi = curl_multi_init();
  if (impl_->multi == nullptr) {
    throw std::runtime_error("libcurl could not create a multi handle");
  }
  CURLM* m = impl_->multi;
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &impl::on_socket);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, impl_.get());
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &impl::on_timer);
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, impl_.get());
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_total_connections);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, options.max_kept_connections);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

multi_client::~multi_client() {
  asio::post(impl_->ioc, [this] { impl_->shut_down(); });
  impl_->thread.join();
}

void multi_client::start(request req, body_sink sink, completion done) {
  auto j = std::make_shared<job>();
  j->req = std::move(req);
  j->req.connections.reset();
  j->sink = std::move(sink);
  j->done = std::move(done);
  ++impl_->active;
  asio::post(impl_->ioc, [this, j] { impl_->begin(j); });
}

std::size_t multi_client::active() const noexcept { return impl_->active.load(); }

}  // namespace pdl::http_client
