#pragma once
// The HTTP side of fake-data-source: serves the configured JSON documents (GET or POST) to the
// agent's fetcher, optionally behind a required header, and misbehaves on request (forced
// statuses, hung requests). GET /_source/requests reports, without auth and without being
// counted itself:
//   {"paths":{"/users":{"authorized":2,"requests":3}},"authorized":2,"requests":3}
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

  /** The body GET /_source/requests returns. */
  nlohmann::json request_counts() const;

 private:
  struct counts {
    std::size_t requests = 0;
    std::size_t authorized = 0;
  };

  bool authorized(const http_request& req) const;

  source_options opts_;
  std::map<std::string, counts> counts_;
};

}  // namespace pdl::fakes
