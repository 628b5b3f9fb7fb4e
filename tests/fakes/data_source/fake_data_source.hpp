#pragma once
// The HTTP side of fake-data-source: serves the configured JSON documents (GET or POST) to the
// agent's fetcher, optionally behind a required header, and misbehaves on request (forced
// statuses, hung requests). GET /_source/requests reports, without auth and without being
// counted itself:
//   {"paths":{"/users":{"authorized":2,"requests":3}},"authorized":2,"requests":3}
// For fault tests:
//   GET /echo?json=<percent-encoded JSON> answers that JSON (200, application/json), so each
//     fetched update carries its own deterministic payload; 400 when the JSON is missing,
//     invalid or larger than max_echo_bytes.
//   POST /_source/fail?count=N&status=S (S 400..599, default 500; N <= max_fault_count) makes
//     the next N data requests answer S; POST /_source/hang?count=N makes the next N data
//     requests hang (never answered). Each replaces its pending count; count=0 clears it.
//     Answered 200 {"fail":N,"hang":M} (the pending counts), 400 on a bad query. Hangs are
//     consumed before failures. /_source/* requests are never counted nor faulted.
// Not thread-safe: handle() runs on the server's one I/O thread.
#include <cstddef>
#include <map>
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

  /** The body GET /_source/requests returns. */
  nlohmann::json request_counts() const;

 private:
  struct counts {
    std::size_t requests = 0;
    std::size_t authorized = 0;
  };

  bool authorized(const http_request& req) const;
  http_response set_fault(const http_request& req, bool hang);
  http_response echo(const http_request& req) const;

  source_options opts_;
  std::map<std::string, counts> counts_;
  std::size_t fail_next_ = 0;   // data requests still to fail with fail_status_
  int fail_status_ = 500;
  std::size_t hang_next_ = 0;   // data requests still to leave unanswered
};

}  // namespace pdl::fakes
