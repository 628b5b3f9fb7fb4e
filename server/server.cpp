#include "server/server.hpp"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/resource.h>

#include "server/http_listener.hpp"
#include "server/server_context.hpp"
#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"
#include "shared/net.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.http");
  return l;
}

std::shared_ptr<spdlog::logger> policy_log() {
  static auto l = log::get("server.policy");
  return l;
}

}  // namespace

struct server::impl {
  std::unique_ptr<server_context> ctx;
  net::io_context ioc;
  std::unique_ptr<http_listener> listener;
  std::vector<std::thread> threads;
  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu

  explicit impl(std::unique_ptr<server_context> c)
      : ctx(std::move(c)), ioc(std::max(1, ctx->cfg.threads)) {}
};

server::server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

server::~server() { stop(); }

std::unique_ptr<server> server::start(config::server_config cfg, update_log_ptr log) {
  auto p = std::make_unique<impl>(make_server_context(std::move(cfg), std::move(log)));
  p->ctx->policies->start([ctx = p->ctx.get()](const policy::policy_change& c) {
    std::vector<std::string> topics;
    for (const auto& d : c.dirs) {
      topics.push_back("policy:" + d);
    }
    const std::size_t frames = ctx->subscriptions.announce(
        topics, policy::policy_update_message(c.old_hash, c.new_hash, c.dirs));
    policy_log()->info("policy bundle {} announced: {} notify frames", c.new_hash, frames);
  });
  if (auto& c = *p->ctx; c.blob_files) {
    c.blob_retention = std::make_unique<blobs::periodic_retention>(
        *c.updates, *c.blob_files, c.shared_blobs.get(), c.cfg.blobs_retention_interval,
        c.cfg.blobs_retention_grace, [r = c.base_refresh.get()] { return r->current_blobs(); });
  }
  p->listener = http_listener::open(*p->ctx, p->ioc);
  p->listener->start();
  int n = std::max(1, p->ctx->cfg.threads);
  for (int i = 0; i < n; ++i) {
    p->threads.emplace_back([io = &p->ioc] {
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& e) {
          // Handlers catch their own errors (STYLE A1); this is the last line of defence.
          logger()->error("uncaught exception in the event loop: {}", e.what());
        } catch (...) {
          logger()->error("uncaught exception of unknown type in the event loop");
        }
      }
    });
  }
  p->ctx->bound_port = p->listener->port();
  if (p->ctx->base_refresh) {
    p->ctx->base_refresh->start();  // its signed URLs name the bound port
  }
  if (p->ctx->shared_deliveries) {
    p->ctx->shared_deliveries->start();
  }
  p->ctx->listening = true;
  const auto& tls = p->ctx->cfg.tls;
  logger()->info("listening on {}:{} ({} threads, {})", p->ctx->cfg.host, p->listener->port(), n,
                 !tls.enabled()                 ? "plaintext HTTP/WS"
                 : tls.client_ca_file.empty()   ? "HTTPS/WSS"
                                                : "HTTPS/WSS, client certificates required");
  return std::unique_ptr<server>(new server(std::move(p)));
}

std::uint16_t server::port() const { return impl_->listener->port(); }

server_context& server::context() { return *impl_->ctx; }

void server::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  auto& ctx = *impl_->ctx;
  ctx.listening = false;
  ctx.policies->stop();
  if (ctx.base_refresh) {
    ctx.base_refresh->stop();
  }
  ctx.blob_retention.reset();
  impl_->listener->stop();
  ctx.subscriptions.shut_down_all();
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (ctx.stats.open_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (ctx.stats.open_connections.load() > 0) {
    logger()->warn("{} connections still open after {} ms: cutting them",
                   ctx.stats.open_connections.load(), grace.count());
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    t.join();
  }
  impl_->threads.clear();
  if (ctx.shared_deliveries) {
    ctx.shared_deliveries->stop();  // the last acknowledgements, then leave the replica set
  }
  // A publish still waiting for a frozen log finishes (or times out) before this returns.
  ctx.stop_pools();
  logger()->info("stopped");
  logger()->flush();
}

void write_port_file(const std::string& path, std::uint16_t port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.flush();
    if (!out) {
      throw std::runtime_error("cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
  }
}

namespace {

/** Each WebSocket subscriber holds a descriptor: take the hard limit the process was given
 *  (systemd's LimitNOFILE, a container's --ulimit nofile; docs/operations.md), as nginx and Go
 *  programs do, instead of the soft limit (often 1024). */
void raise_open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) {
    return;
  }
  const auto was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
    logger()->info("open file limit raised from {} to {} (the hard limit)", was, rl.rlim_cur);
  } else {
    logger()->warn("open file limit stays {}: cannot raise it to the hard limit {}", was,
                   rl.rlim_max);
  }
}

}  // namespace

int run_until_signalled(config::server_config cfg) {
  raise_open_file_limit();
  // Block the stop signals in every thread (the server's threads inherit the mask), then wait
  // for them here: no async-signal-safety concerns, and SIGTERM takes the graceful path.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::string port_file = cfg.port_file;
  std::unique_ptr<server> srv;
  try {
    srv = server::start(std::move(cfg));
    if (!port_file.empty()) {
      write_port_file(port_file, srv->port());
    }
  } catch (const std::exception& e) {
    logger()->critical("startup failed: {}", e.what());
    logger()->flush();
    return 1;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  logger()->info("{} received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  srv->stop();
  return 0;
}

}  // namespace pdl::server
