#pragma once
// The data document behind /v1/data, with the semantics of OPA's in-memory store and of the
// server handlers around it (PUT creates ancestors, PATCH is atomic, DELETE needs the target).
// Not thread-safe: the stand-in touches it from its one I/O thread only.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fakes/opa_standin/store_error.hpp"
#include "tests/fakes/opa_standin/store_transaction.hpp"

namespace pdl::fakes {

/** One JSON Patch operation, already resolved against the URL path. */
struct store_patch {
  patch_op op;
  store_path path;
  nlohmann::json value;  // null when the request had no "value"
};

class data_store {
 public:
  data_store() = default;

  const nlohmann::json& root() const noexcept { return root_; }

  /** storage Read: the value at @p path, or not_found (with OPA's array-index hints). */
  std::variant<const nlohmann::json*, store_error> read(const store_path& path) const;

  /** The value at @p path as a query sees it: nullptr when undefined (missing, or below a
   *  scalar, or a non-integer index into an array). */
  const nlohmann::json* lookup(const store_path& path) const;

  enum class put_outcome { written, not_modified };
  /** PUT /v1/data/{path}: creates missing ancestors as objects (write_conflict naming the first
   *  existing non-object ancestor), inserts at an existing array index, replaces otherwise;
   *  with @p if_none_match an existing target is left alone (not_modified). */
  std::variant<put_outcome, store_error> put(const store_path& path, nlohmann::json value,
                                             bool if_none_match);

  /** DELETE /v1/data/{path}: the target must exist. */
  std::optional<store_error> remove(const store_path& path);

  /** PATCH: all operations or none. */
  std::optional<store_error> patch(std::vector<store_patch> ops);

 private:
  std::optional<store_error> make_dir(store_transaction& txn, const store_path& dir) const;

  nlohmann::json root_ = nlohmann::json::object();
};

}  // namespace pdl::fakes
