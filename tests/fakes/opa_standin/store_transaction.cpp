#include "tests/fakes/opa_standin/store_transaction.hpp"

#include <string>
#include <utility>

#include "tests/fakes/opa_standin/go_json.hpp"

namespace pdl::fakes {
namespace {

bool has_prefix(const store_path& path, const store_path& prefix) {
  if (prefix.size() > path.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (path[i] != prefix[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::variant<std::size_t, store_error> array_index(const store_path& path, const std::string& seg,
                                                   std::size_t size) {
  auto idx = go_json::atoi(seg);
  if (!idx) {
    return store_error::not_found(path, "array index must be integer");
  }
  if (*idx < 0 || static_cast<std::uint64_t>(*idx) >= size) {
    return store_error::not_found(path, "array index out of range");
  }
  return static_cast<std::size_t>(*idx);
}

std::optional<store_error> store_transaction::write(patch_op op, const store_path& path,
                                                    nlohmann::json value) {
  if (path.empty()) {
    if (op == patch_op::remove) {
      return store_error::invalid_patch("root cannot be removed");
    }
    if (!value.is_object()) {
      return store_error::invalid_patch("root must be object");
    }
    updates_.clear();
    updates_.push_front(update{{}, false, std::move(value)});
    return std::nullopt;
  }
  // An array edit is staged as a copy of the whole array, computed from the committed data. When
  // earlier writes of this transaction sit inside that array, that copy would lose or misplace
  // them: compute this write against the transaction's merged view instead (found by fuzzing).
  {
    auto probe = make_update(committed_, op, path, 0, nlohmann::json(value));
    if (auto* staged = std::get_if<update>(&probe); staged != nullptr &&
                                                    staged->path.size() < path.size()) {
      const store_path& array_path = staged->path;
      bool covers = false;
      for (const auto& u : updates_) {
        covers = covers || (u.path.size() > array_path.size() && has_prefix(u.path, array_path));
      }
      if (covers) {
        nlohmann::json view = committed_;
        for (const auto& u : updates_) {
          apply(view, update(u));
        }
        auto merged = make_update(view, op, path, 0, std::move(value));
        if (auto* err = std::get_if<store_error>(&merged)) {
          return *err;
        }
        apply(view, std::get<update>(std::move(merged)));
        updates_.clear();
        updates_.push_front(update{{}, false, std::move(view)});
        return std::nullopt;
      }
    }
  }
  for (auto it = updates_.begin(); it != updates_.end();) {
    if (it->path == path) {
      if (it->remove && op != patch_op::add) {
        return store_error::not_found(path);
      }
      updates_.erase(it);
      break;
    }
    if (has_prefix(it->path, path)) {  // the new write masks this one
      it = updates_.erase(it);
      continue;
    }
    if (has_prefix(path, it->path)) {  // the new write lands inside this one: merge
      if (it->remove) {
        return store_error::not_found(path);
      }
      store_path suffix(path.begin() + static_cast<std::ptrdiff_t>(it->path.size()), path.end());
      auto merged = make_update(it->value, op, suffix, 0, std::move(value));
      if (auto* err = std::get_if<store_error>(&merged)) {
        return *err;
      }
      apply(it->value, std::get<update>(std::move(merged)));
      return std::nullopt;
    }
    ++it;
  }
  auto fresh = make_update(committed_, op, path, 0, std::move(value));
  if (auto* err = std::get_if<store_error>(&fresh)) {
    return *err;
  }
  updates_.push_front(std::get<update>(std::move(fresh)));
  return std::nullopt;
}

void store_transaction::commit(nlohmann::json& data) {
  for (auto& u : updates_) {
    apply(data, std::move(u));
  }
  updates_.clear();
}

store_transaction::update_or_error store_transaction::make_update(const nlohmann::json& data,
                                                                  patch_op op,
                                                                  const store_path& path,
                                                                  std::size_t idx,
                                                                  nlohmann::json&& value) {
  if (data.is_array()) {
    return make_array_update(data, op, path, idx, std::move(value));
  }
  if (!data.is_object()) {
    return store_error::not_found(path);
  }
  const std::string& key = path[idx];
  auto found = data.find(key);
  if (idx == path.size() - 1) {
    if (op != patch_op::add && found == data.end()) {
      return store_error::not_found(path);
    }
    return update{path, op == patch_op::remove, std::move(value)};
  }
  if (found == data.end()) {
    return store_error::not_found(path);
  }
  return make_update(*found, op, path, idx + 1, std::move(value));
}

store_transaction::update_or_error store_transaction::make_array_update(
    const nlohmann::json& data, patch_op op, const store_path& path, std::size_t idx,
    nlohmann::json&& value) {
  const std::string& seg = path[idx];
  if (idx == path.size() - 1) {
    store_path array_path(path.begin(), path.end() - 1);
    if (seg == "-" || seg == std::to_string(data.size())) {
      if (op != patch_op::add) {
        return store_error::invalid_patch(path_string(path) + ": invalid patch path");
      }
      nlohmann::json copy = data;
      copy.push_back(std::move(value));
      return update{std::move(array_path), false, std::move(copy)};
    }
    auto pos = array_index(path, seg, data.size());
    if (auto* err = std::get_if<store_error>(&pos)) {
      return *err;
    }
    auto at = static_cast<std::ptrdiff_t>(std::get<std::size_t>(pos));
    nlohmann::json copy = data;
    switch (op) {
      case patch_op::add: copy.insert(copy.begin() + at, std::move(value)); break;
      case patch_op::remove: copy.erase(copy.begin() + at); break;
      case patch_op::replace: copy[static_cast<std::size_t>(at)] = std::move(value); break;
    }
    return update{std::move(array_path), false, std::move(copy)};
  }
  auto pos = array_index(path, seg, data.size());
  if (auto* err = std::get_if<store_error>(&pos)) {
    return *err;
  }
  return make_update(data[std::get<std::size_t>(pos)], op, path, idx + 1, std::move(value));
}

void store_transaction::apply(nlohmann::json& data, update&& u) {
  if (u.path.empty()) {
    data = std::move(u.value);
    return;
  }
  // Paths are checked when staged, so every step resolves, except when two writes name one
  // array element differently ("01" and "1"): a newer write of the array may then have replaced
  // the container an older write goes into. OPA panics there; the stand-in drops the older
  // write, as if the newer one had masked it (found by fuzzing).
  nlohmann::json* parent = &data;
  for (std::size_t i = 0; i + 1 < u.path.size() && parent != nullptr; ++i) {
    parent = step(*parent, u.path[i]);
  }
  if (parent == nullptr) {
    return;
  }
  const std::string& key = u.path.back();
  if (parent->is_array()) {
    if (nlohmann::json* slot = step(*parent, key)) {
      *slot = std::move(u.value);
    }
  } else if (!parent->is_object()) {
    return;
  } else if (u.remove) {
    parent->erase(key);
  } else {
    (*parent)[key] = std::move(u.value);
  }
}

nlohmann::json* store_transaction::step(nlohmann::json& node, const std::string& seg) {
  if (node.is_object()) {
    auto found = node.find(seg);
    return found == node.end() ? nullptr : &*found;
  }
  if (node.is_array()) {
    auto idx = go_json::atoi(seg);
    if (!idx || *idx < 0 || static_cast<std::uint64_t>(*idx) >= node.size()) {
      return nullptr;
    }
    return &node[static_cast<std::size_t>(*idx)];
  }
  return nullptr;
}

}  // namespace pdl::fakes
