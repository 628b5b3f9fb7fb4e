#pragma once
// What a real OPA 1.9 answers on its REST API (in-memory store, no bundles, no config), request
// by request, as recorded in /work/shared/opa-data-api.md: routing (301 on a trailing slash or
// an unclean path, 405 on a known path with the wrong method, text 404 otherwise), the data API
// with OPA's store semantics and error bodies, the policies API, health, /v1/config and
// /v1/status. No I/O: opa_standin serves it over HTTP, tests may call handle() directly.
//
// THE DOCUMENTED GAP: there is no Rego here. Policies are stored as raw text and never parsed
// or compiled (only OPA's "empty module" rejection is reproduced), so nothing is evaluated:
// GET/POST /v1/data return base documents only, "input" is ignored, policy/data conflicts are
// never reported, GET /v1/policies/{id} has no "ast", /health/{path} reads the base document
// data.system.health.<path>, and /v0/data, /v1/query, /v1/compile, /metrics are not routed (404).
//
// Test-only extras (not in OPA): GET /_standin/writes lists every PUT/PATCH/DELETE answered so
// far as [{"method","path","status"}]; POST /_standin/fail-writes?count=N makes the next N data
// or policy writes answer 500 internal_error without touching anything. With
// options::discard_data_under, a data PUT or PATCH at or under that path is answered 204 as OPA
// would and dropped, never decoded nor stored (benchmarks with many agents, whose stores could
// not each hold the document as a tree); every other request is emulated as usual.
//
// Not thread-safe: call handle() from one thread (the stand-in's I/O thread).
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tests/fakes/opa_standin/data_store.hpp"
#include "tests/fakes/opa_standin/http_types.hpp"

namespace pdl::fakes {

class opa_emulator {
 public:
  struct options {
    std::size_t fail_writes = 0;  // answer the first N data/policy writes with 500
    /** "/bench": PUT/PATCH /v1/data/bench and /v1/data/bench/... answer 204 and are dropped.
     *  "" (default): none. Compared with the raw (still percent-encoded) path. */
    std::string discard_data_under;
  };

  opa_emulator();
  explicit opa_emulator(options opts);

  /** Answers one request. Never throws for any request content. */
  http_response handle(const http_request& req);

  /** Makes the next @p n data/policy writes fail with 500 (replaces any pending count). */
  void fail_next_writes(std::size_t n) noexcept { fail_writes_ = n; }

  const data_store& store() const noexcept { return store_; }
  const nlohmann::json& writes() const noexcept { return writes_; }

 private:
  enum class route_id {
    health, health_path, data_root, data_path, policies, policy, config, status,
    standin_writes, standin_fail_writes
  };

  http_response route(const http_request& req);
  http_response dispatch(route_id id, const http_request& req, std::string_view var);
  http_response data_get(const http_request& req, std::string_view var);
  http_response data_post(const http_request& req, std::string_view var);
  http_response data_put(const http_request& req, std::string_view var);
  http_response data_patch(const http_request& req, std::string_view var);
  http_response data_delete(std::string_view var);
  http_response health_path(std::string_view var);
  http_response policy_get(std::string_view var);
  http_response policy_put(const http_request& req, std::string_view var);
  http_response policy_delete(std::string_view var);
  http_response policies_list(const http_request& req);
  http_response config_get(const http_request& req);
  http_response standin_fail_writes(const http_request& req);

  data_store store_;
  std::map<std::string, std::string> policies_;  // id -> raw text
  nlohmann::json writes_ = nlohmann::json::array();
  std::size_t fail_writes_ = 0;
  std::string discard_under_;  // discard_data_under without its leading '/'
  std::string instance_id_;
};

}  // namespace pdl::fakes
