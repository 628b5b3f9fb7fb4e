#pragma once
// The HTTP side of fake-data-source: serves the configured JSON documents (GET or POST) to the
// agent's fetcher, optionally behind a required header, and misbehaves on request (forced
// statuses, hung requests). GET /_source/requests reports, without auth and without being
// counted itself:
//   {"paths":{"/users":{"authorized":2,"not_modified":0,"requests":3}},"authorized":2,"requests":3}
// Routes answer with an ETag; a request with If-None-Match equal to it gets 304 and no body.
// For fault tests:
//   GET /echo?json=<percent-encoded JSON> answers that JSON (200, application/json), so each
//     fetched update carries its own deterministic payload; 400 when the JSON is missing,
//     invalid or larger than max_echo_bytes. With &trickle_ms=N (0..60000) the body goes one
//     byte every N ms after the head (a trickling source: never idle, slow to finish). With
//     &raw=1 the text is answered as it is, JSON or not (a broken source).
//   GET /redirect?to=<percent-encoded http(s) URL>[&status=301|302|303|307|308] answers that
//     status (302 by default) with Location: <to>, for redirect-chain tests (source rules);
//     400 when `to` is missing or not an http(s) URL, or the status is not a redirect.
//   POST /_source/fail?count=N&status=S (S 400..599, default 500; N <= max_fault_count) makes
//     the next N data requests answer S; POST /_source/hang?count=N makes the next N data
//     requests hang (never answered). Each replaces its pending count; count=0 clears it.
//     Answered 200 {"fail":N,"hang":M} (the pending counts), 400 on a bad query. Hangs are
//     consumed before failures. /_source/* requests are never counted nor faulted.
// For refresh and external-source tests (no auth, never counted nor logged):
//   PUT /_source/route?path=<percent-encoded /path> with a JSON body (at most max_route_bytes)
//     serves that body at /path from now on (added or replaced); 200 {"path":...,"bytes":N},
//     400 on a missing/bad path or invalid JSON, 413 when too large, 405 for other methods.
//   PUT /_source/require with body "NAME: VALUE" requires that header on every data request
//     from now on (an empty body lifts the requirement); 200 {"required":true|false}, 400 on a
//     malformed body. The value travels in the body, never in a URL, and is never echoed.
//   GET /_source/log: the last max_log_entries data requests, oldest first:
//     {"requests":[{"method":"GET","target":"/config?x=1","authorized":true}]} (targets raw,
//     query strings included: tests check that no secret ever travelled in a URL).
// Not thread-safe: handle() runs on the server's one I/O thread.
#include <cstddef>
#include <map>
#include <string_view>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/fakes/data_source/source_options.hpp"
#include "tests/fakes/opa_standin/http_types.hpp"

namespace pdl::fakes {

class fake_data_source {
 public:
  explicit fake_data_source(source_options opts) : opts_(std::move(opts)) {}

  /** Order: count; missing/wrong required header -> 401 {"error":"unauthorized"}; --hang ->
   *  never answered; --status -> that status; a route -> 200 application/json (GET/POST only,
   *  else 405); otherwise 404. Error bodies are JSON {"error":...} and never echo a header. */
  http_response handle(const http_request& req);

  /** Largest JSON /echo serves (decoded bytes). */
  static constexpr std::size_t max_echo_bytes = 1024 * 1024;
  /** Largest count /_source/fail and /_source/hang accept. */
  static constexpr std::size_t max_fault_count = 1000000;

  /** Largest body PUT /_source/route accepts. */
  static constexpr std::size_t max_route_bytes = 16 * 1024 * 1024;
  /** Data requests GET /_source/log remembers (the oldest are forgotten first). */
  static constexpr std::size_t max_log_entries = 1000;

  /** The body GET /_source/requests returns. */
  nlohmann::json request_counts() const;
  /** The body GET /_source/log returns. */
  nlohmann::json request_log() const;

 private:
  struct counts {
    std::size_t requests = 0;
    std::size_t authorized = 0;
    std::size_t not_modified = 0;  // answered 304 (If-None-Match with the route's ETag)
  };

  bool authorized(const http_request& req) const;
  http_response set_fault(const http_request& req, bool hang);
  http_response echo(const http_request& req) const;
  http_response redirect(const http_request& req) const;
  http_response set_route(const http_request& req);
  http_response set_require(const http_request& req);
  void remember(const http_request& req, bool authorized);

  source_options opts_;
  std::map<std::string, counts> counts_;
  std::size_t fail_next_ = 0;   // data requests still to fail with fail_status_
  int fail_status_ = 500;
  std::size_t hang_next_ = 0;   // data requests still to leave unanswered
  nlohmann::json log_ = nlohmann::json::array();  // see request_log()
};

}  // namespace pdl::fakes
