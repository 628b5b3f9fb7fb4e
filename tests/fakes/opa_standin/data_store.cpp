#include "tests/fakes/opa_standin/data_store.hpp"

#include <utility>

namespace pdl::fakes {

std::variant<const nlohmann::json*, store_error> data_store::read(const store_path& path) const {
  const nlohmann::json* node = &root_;
  for (const auto& key : path) {
    if (node->is_object()) {
      auto it = node->find(key);
      if (it == node->end()) {
        return store_error::not_found(path);
      }
      node = &*it;
    } else if (node->is_array()) {
      auto pos = array_index(path, key, node->size());
      if (auto* err = std::get_if<store_error>(&pos)) {
        return *err;
      }
      node = &(*node)[std::get<std::size_t>(pos)];
    } else {
      return store_error::not_found(path);
    }
  }
  return node;
}

const nlohmann::json* data_store::lookup(const store_path& path) const {
  auto r = read(path);
  auto* found = std::get_if<const nlohmann::json*>(&r);
  return found ? *found : nullptr;
}

std::optional<store_error> data_store::make_dir(store_transaction& txn,
                                                const store_path& dir) const {
  if (dir.empty()) {
    return std::nullopt;
  }
  auto r = read(dir);
  if (std::holds_alternative<store_error>(r)) {
    if (auto err = make_dir(txn, store_path(dir.begin(), dir.end() - 1))) {
      return err;
    }
    return txn.write(patch_op::add, dir, nlohmann::json::object());
  }
  if (std::get<const nlohmann::json*>(r)->is_object()) {
    return std::nullopt;
  }
  return store_error::write_conflict(dir);
}

std::variant<data_store::put_outcome, store_error> data_store::put(const store_path& path,
                                                                   nlohmann::json value,
                                                                   bool if_none_match) {
  store_transaction txn(root_);
  if (std::holds_alternative<store_error>(read(path))) {
    if (!path.empty()) {
      if (auto err = make_dir(txn, store_path(path.begin(), path.end() - 1))) {
        return *err;
      }
    }
  } else if (if_none_match) {
    return put_outcome::not_modified;
  }
  if (auto err = txn.write(patch_op::add, path, std::move(value))) {
    return *err;
  }
  txn.commit(root_);
  return put_outcome::written;
}

std::optional<store_error> data_store::remove(const store_path& path) {
  auto r = read(path);
  if (auto* err = std::get_if<store_error>(&r)) {
    return *err;
  }
  store_transaction txn(root_);
  if (auto err = txn.write(patch_op::remove, path, nullptr)) {
    return err;
  }
  txn.commit(root_);
  return std::nullopt;
}

std::optional<store_error> data_store::patch(std::vector<store_patch> ops) {
  store_transaction txn(root_);
  for (auto& op : ops) {
    if (auto err = txn.write(op.op, op.path, std::move(op.value))) {
      return err;
    }
  }
  txn.commit(root_);
  return std::nullopt;
}

}  // namespace pdl::fakes
