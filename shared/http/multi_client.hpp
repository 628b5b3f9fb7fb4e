#pragma once
// Event-driven HTTP(S) transfers: libcurl's multi interface driven by Asio (curl's socket-action
// API: Asio waits on the sockets libcurl names and runs its timer), on one thread of the
// client's own. A transfer costs no thread: a thousand slow sources are a thousand sockets in
// one epoll set, not a thousand blocked workers. Connections (and TLS sessions) are kept and
// reused between transfers to the same origin; at most multi_options::max_host_connections are
// open to one host at a time, further transfers to it wait in libcurl's queue while transfers to
// other hosts go on.
//
// Requests behave as in perform() (client.hpp): same options, hooks, redirect and credential
// rules, timeouts and errors; request::connections is ignored (the client keeps its own).
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <variant>

#include "shared/http/client.hpp"

namespace pdl::http_client {

struct multi_options {
  /** Connections open to one host (name and port) at once; 0 = no limit. */
  long max_host_connections = 6;
  /** Connections open in all; 0 = no limit. */
  long max_total_connections = 0;
  /** Idle connections kept for reuse. */
  long max_kept_connections = 16;
};

class multi_client {
 public:
  /** @p result is the response or the transport error; @p error is set instead when the sink,
   *  the body source or a hook threw (the result is then a transport_error::aborted). */
  using completion =
      std::function<void(std::variant<response, transport_error> result, std::exception_ptr error)>;

  explicit multi_client(multi_options options = {});
  /** Aborts the transfers still running (each completion runs, with transport_error::aborted)
   *  and joins the client's thread. Not from a completion or a sink. */
  ~multi_client();
  multi_client(const multi_client&) = delete;
  multi_client& operator=(const multi_client&) = delete;

  /** Starts @p req. The sink, the hooks and @p done run on the client's thread (keep them
   *  short: they hold up every other transfer); @p done runs exactly once. Thread-safe. */
  void start(request req, body_sink sink, completion done);

  /** Transfers started and not yet completed. */
  std::size_t active() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace pdl::http_client
