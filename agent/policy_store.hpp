#pragma once
// Seam: the policy engine's data API (OPA's /v1/data).
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pdl::agent {

/** The bytes to write: either in memory (@c text, not owned: the caller keeps it alive for the
 *  call) or a file of @c size bytes at @c file_path. Sent as is, never re-encoded. */
struct store_body {
  std::string_view text;
  std::string file_path;
  std::uint64_t size = 0;

  static store_body from_text(std::string_view t) { return {t, {}, t.size()}; }
  static store_body from_file(std::string path, std::uint64_t n) { return {{}, std::move(path), n}; }
  bool is_file() const noexcept { return !file_path.empty(); }
};

/** A write the engine refused or that did not reach it. what() = "<status> <engine message>" or
 *  the transport problem; never the payload or the auth token. */
class store_error : public std::runtime_error {
 public:
  store_error(std::string message, long http_status = 0, bool timed_out = false)
      : std::runtime_error(std::move(message)), status_(http_status), timed_out_(timed_out) {}
  /** The engine's HTTP status, 0 when it was not reached. */
  long http_status() const noexcept { return status_; }
  /** The engine did not answer within the configured timeout. */
  bool timed_out() const noexcept { return timed_out_; }

 private:
  long status_;
  bool timed_out_;
};

/**
 * Writes into the policy engine. All calls block (worker thread only) and are thread-safe.
 * Paths are dst_paths as users write them; the store maps them (model::opa_data_url_path).
 */
class policy_store {
 public:
  virtual ~policy_store() = default;
  /** Replaces the document at @p dst_path with @p body (JSON). @throws store_error. */
  virtual void put(std::string_view dst_path, const store_body& body) = 0;
  /** Applies JSON-patch ops @p body (a JSON array) at @p dst_path. @throws store_error. */
  virtual void patch(std::string_view dst_path, const store_body& body) = 0;
  /** True when the engine answers its health endpoint with success. Never throws. */
  virtual bool health() = 0;
  /** The JSON text of the (small: at most 1 MiB) document at @p dst_path, nullopt when it is
   *  undefined. Used for the agent's marker document. @throws store_error. */
  virtual std::optional<std::string> get(std::string_view dst_path) = 0;
};

using policy_store_ptr = std::unique_ptr<policy_store>;

}  // namespace pdl::agent
