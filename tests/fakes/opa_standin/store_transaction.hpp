#pragma once
// One write transaction on the data document, following OPA's in-memory store: every write is
// checked against the committed data (or merged into an earlier write of the same transaction
// whose path is a prefix), and nothing changes until commit(). Error paths follow OPA too: a
// write merged into an earlier one reports its path relative to that write (PATCH
// [add /s 1, add /s/t 1] fails with "/t: document does not exist").
#include <list>
#include <optional>
#include <variant>

#include <nlohmann/json.hpp>

#include "tests/fakes/opa_standin/store_error.hpp"

namespace pdl::fakes {

enum class patch_op { add, remove, replace };

class store_transaction {
 public:
  /** @p committed must outlive the transaction and not change before commit(). */
  explicit store_transaction(const nlohmann::json& committed) : committed_(committed) {}

  /** Stages one write. add inserts into arrays ("-" or the length appends) and sets object
   *  keys; replace and remove need the target to exist. The root accepts only add/replace
   *  of an object. Returns the storage error, staging nothing, when the write is invalid. */
  std::optional<store_error> write(patch_op op, const store_path& path, nlohmann::json value);

  /** Applies every staged write to @p data (the document given to the constructor). */
  void commit(nlohmann::json& data);

 private:
  struct update {
    store_path path;  // for array edits: the array's own path (the whole array is replaced)
    bool remove = false;
    nlohmann::json value;
  };
  using update_or_error = std::variant<update, store_error>;

  static update_or_error make_update(const nlohmann::json& data, patch_op op,
                                     const store_path& path, std::size_t idx,
                                     nlohmann::json&& value);
  static update_or_error make_array_update(const nlohmann::json& data, patch_op op,
                                           const store_path& path, std::size_t idx,
                                           nlohmann::json&& value);
  static void apply(nlohmann::json& data, update&& u);
  /** The child @p seg of @p node (object key or in-range array index), or nullptr. */
  static nlohmann::json* step(nlohmann::json& node, const std::string& seg);

  const nlohmann::json& committed_;
  std::list<update> updates_;  // pairwise non-overlapping paths
};

/** The array index @p seg of @p path into an array of @p size elements (ptr.ValidateArrayIndex):
 *  not_found "array index must be integer" / "array index out of range" otherwise. */
std::variant<std::size_t, store_error> array_index(const store_path& path, const std::string& seg,
                                                   std::size_t size);

}  // namespace pdl::fakes
