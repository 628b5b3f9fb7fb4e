#pragma once
// policy_store for OPA's REST data API, over the HTTP client (shared/http/client.hpp).
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "agent/policy_store.hpp"
#include "shared/http/client.hpp"
#include "shared/log/secret.hpp"
#include "shared/tls/tls_context.hpp"

namespace pdl::agent {

struct opa_store_options {
  std::string url = "http://localhost:8181";  // no trailing '/' needed
  secret token;                               // sent as "Authorization: Bearer" when not empty
  std::chrono::milliseconds timeout{30000};   // idle timeout of one write
  std::chrono::milliseconds health_timeout{2000};
  tls::client_files tls;  // policy_store.tls_ca / tls_client_cert / tls_client_key
};

/**
 * put(): PUT /v1/data/<path> (Content-Type application/json); patch(): PATCH with
 * application/json-patch+json. 204 and 304 succeed; any other answer throws store_error with
 * OPA's status, code and message. File bodies are streamed, never loaded whole.
 * health(): GET <url>/health answered 200. get(): GET /v1/data/<path>; OPA answers 200 with
 * {"result":...}, or {} when the document is undefined. Thread-safe.
 */
class opa_store final : public policy_store {
 public:
  explicit opa_store(opa_store_options options);
  void put(std::string_view dst_path, const store_body& body) override;
  void patch(std::string_view dst_path, const store_body& body) override;
  bool health() override;
  std::optional<std::string> get(std::string_view dst_path) override;

 private:
  void write(const char* method, const char* content_type, std::string_view dst_path,
             const store_body& body);
  opa_store_options options_;
  /** One connection cache for every request to the engine (workers share it). */
  std::shared_ptr<http_client::connection_pool> connections_ =
      std::make_shared<http_client::connection_pool>();
  std::mutex health_mu_;
  std::string last_health_error_;  // logged once per distinct reason (e.g. a TLS failure)
};

}  // namespace pdl::agent
