// PATCH application in the OPA stand-in's store (data_store / store_transaction): random
// documents, then random PUT / DELETE / PATCH requests built from the input. Checked:
// - atomicity: a refused request leaves the document exactly as it was;
// - the root stays an object;
// - a PUT or DELETE under an object parent is visible to a read right after;
// - an accepted PATCH gives the same document as its operations applied one by one
//   (each as its own one-op PATCH, which must then all succeed), unless a later op writes into
//   the directory of an earlier one: OPA's transaction then drops the earlier write when the
//   later one masks it, or rebuilds a whole array from the committed data (an array edit is
//   staged as a write of the array), so [replace /a/0/k, add /a/0] loses the replace. That is
//   OPA's behaviour, which the stand-in reproduces on purpose.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.hpp"
#include "tests/fakes/opa_standin/data_store.hpp"

namespace {

using nlohmann::json;
using pdl::fakes::data_store;
using pdl::fakes::patch_op;
using pdl::fakes::store_patch;
using pdl::fakes::store_path;

// A small key space, so paths collide with existing keys and array indexes often.
const char* const keys[] = {"a", "b", "c", "0", "1", "2", "-", "01", "x y", ""};

std::string pick_key(FuzzedDataProvider& in) {
  return keys[in.ConsumeIntegralInRange<std::size_t>(0, std::size(keys) - 1)];
}

json make_value(FuzzedDataProvider& in, int depth) {
  switch (in.ConsumeIntegralInRange<int>(0, depth > 0 ? 6 : 4)) {
    case 0: return nullptr;
    case 1: return in.ConsumeBool();
    case 2: return in.ConsumeIntegralInRange<int>(-3, 3);
    case 3: return pick_key(in);
    case 4: return json::object();
    case 5: {
      json obj = json::object();
      for (int n = in.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        obj[pick_key(in)] = make_value(in, depth - 1);
      }
      return obj;
    }
    default: {
      json arr = json::array();
      for (int n = in.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        arr.push_back(make_value(in, depth - 1));
      }
      return arr;
    }
  }
}

store_path make_path(FuzzedDataProvider& in) {
  store_path p;
  for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0; --n) {
    p.push_back(pick_key(in));
  }
  return p;
}

patch_op make_op(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 0: return patch_op::add;
    case 1: return patch_op::remove;
    default: return patch_op::replace;
  }
}

bool is_prefix(const store_path& prefix, const store_path& path) {
  return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

/** True when some op writes into the directory holding an earlier op's target (see top). */
bool later_op_masks_earlier(const std::vector<store_patch>& ops) {
  for (std::size_t j = 1; j < ops.size(); ++j) {
    if (ops[j].path.empty()) {
      return true;
    }
    const store_path dir(ops[j].path.begin(), ops[j].path.end() - 1);
    for (std::size_t i = 0; i < j; ++i) {
      if (is_prefix(dir, ops[i].path)) {
        return true;
      }
    }
  }
  return false;
}

std::string describe(const std::vector<store_patch>& ops) {
  static const char* const names[] = {"add", "remove", "replace"};
  std::string out;
  for (const auto& op : ops) {
    out += std::string(names[static_cast<int>(op.op)]) + " " + pdl::fakes::path_string(op.path) +
           " " + op.value.dump() + "\n";
  }
  return out;
}

/** PDL_FUZZ_VERBOSE=1 prints every request before it runs (to triage a crash input). */
bool verbose() {
  static const bool on = std::getenv("PDL_FUZZ_VERBOSE") != nullptr;
  return on;
}

/** "01" and "1" name the same array element but different staged paths (OPA's transaction
 *  compares path strings too), so the in-order oracle does not hold for such segments. */
bool has_non_canonical_index(const std::vector<store_patch>& ops) {
  for (const auto& op : ops) {
    for (const auto& seg : op.path) {
      if (seg.size() > 1 && seg[0] == '0') {
        return true;
      }
      if (!seg.empty() && (seg[0] == '+' || seg[0] == '-') && seg != "-") {
        return true;
      }
    }
  }
  return false;
}

bool parent_is_object(const data_store& store, const store_path& path) {
  if (path.empty()) {
    return false;
  }
  const json* parent = store.lookup(store_path(path.begin(), path.end() - 1));
  return parent != nullptr && parent->is_object();
}

void check_patch(data_store& store, FuzzedDataProvider& in) {
  std::vector<store_patch> ops;
  for (int n = in.ConsumeIntegralInRange<int>(1, 5); n > 0; --n) {
    const patch_op op = make_op(in);
    ops.push_back({op, make_path(in), op == patch_op::remove ? json(nullptr) : make_value(in, 2)});
  }
  const json before = store.root();
  if (verbose()) {
    std::fprintf(stderr, "document: %s\nPATCH\n%s", before.dump().c_str(), describe(ops).c_str());
  }
  if (store.patch(ops)) {
    PDL_FUZZ_CHECK(store.root() == before, "a refused PATCH changed the document");
    return;
  }
  if (later_op_masks_earlier(ops) || has_non_canonical_index(ops)) {
    return;
  }
  data_store one_by_one;
  PDL_FUZZ_CHECK(!one_by_one.put({}, before, false).index(), "restore root");
  for (const auto& op : ops) {
    if (auto err = one_by_one.patch({op})) {
      std::fprintf(stderr, "before: %s\nops:\n%sop on %s failed alone: %s\n",
                   before.dump().c_str(), describe(ops).c_str(),
                   pdl::fakes::path_string(op.path).c_str(), err->message().c_str());
      PDL_FUZZ_CHECK(false, "an accepted PATCH has an op that fails when applied in order");
    }
  }
  if (one_by_one.root() != store.root()) {
    std::fprintf(stderr, "before: %s\nops:\n%satomic: %s\nin order: %s\n",
                 before.dump().c_str(), describe(ops).c_str(), store.root().dump().c_str(),
                 one_by_one.root().dump().c_str());
  }
  PDL_FUZZ_CHECK(one_by_one.root() == store.root(), "PATCH differs from its ops in order");
}

void check_put(data_store& store, FuzzedDataProvider& in) {
  const store_path path = make_path(in);
  const json value = make_value(in, 2);
  const bool if_none_match = in.ConsumeBool();
  const json before = store.root();
  if (verbose()) {
    std::fprintf(stderr, "document: %s\nPUT %s %s%s\n", before.dump().c_str(),
                 pdl::fakes::path_string(path).c_str(), value.dump().c_str(),
                 if_none_match ? " If-None-Match" : "");
  }
  const auto r = store.put(path, value, if_none_match);
  if (std::holds_alternative<pdl::fakes::store_error>(r) ||
      std::get<data_store::put_outcome>(r) == data_store::put_outcome::not_modified) {
    PDL_FUZZ_CHECK(store.root() == before, "a refused or not-modified PUT changed the document");
    return;
  }
  if (path.empty() || parent_is_object(store, path)) {
    const json* now = store.lookup(path);
    PDL_FUZZ_CHECK(now != nullptr && *now == value, "PUT not visible");
  }
}

void check_delete(data_store& store, FuzzedDataProvider& in) {
  const store_path path = make_path(in);
  const json before = store.root();
  if (verbose()) {
    std::fprintf(stderr, "document: %s\nDELETE %s\n", before.dump().c_str(),
                 pdl::fakes::path_string(path).c_str());
  }
  if (store.remove(path)) {
    PDL_FUZZ_CHECK(store.root() == before, "a refused DELETE changed the document");
    return;
  }
  if (parent_is_object(store, path)) {
    PDL_FUZZ_CHECK(store.lookup(path) == nullptr, "DELETE not visible");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  data_store store;
  json start = make_value(in, 3);
  if (start.is_object()) {
    PDL_FUZZ_CHECK(!store.put({}, start, false).index(), "PUT of an object at the root");
  }
  for (int requests = 0; requests < 16 && in.remaining_bytes() > 0; ++requests) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: check_put(store, in); break;
      case 1: check_delete(store, in); break;
      default: check_patch(store, in); break;
    }
    PDL_FUZZ_CHECK(store.root().is_object(), "the root is no longer an object");
  }
  return 0;
}
