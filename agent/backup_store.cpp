#include "agent/backup_store.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <iterator>

#include <nlohmann/json.hpp>

#include "agent/atomic_file.hpp"
#include "shared/log/log.hpp"

namespace pdl::agent {
namespace {

constexpr std::size_t max_meta_bytes = 128 * 1024;  // a dst_path is at most 64 KiB

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("agent.backup");
  return l;
}

std::string order_name(std::uint64_t order) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, order);
  return buf;
}

bool parse_order(std::string_view name, std::uint64_t& out) {
  if (name.size() != 16) {
    return false;
  }
  std::uint64_t v = 0;
  for (char c : name) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = v * 16 + static_cast<std::uint64_t>(d);
  }
  out = v;
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/** @p path itself and each of its ancestors, root ("") included. */
std::vector<std::string> self_and_ancestors(const std::string& path) {
  std::vector<std::string> out{std::string()};
  for (std::size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    out.push_back(path.substr(0, pos));
  }
  if (!path.empty()) {
    out.push_back(path);
  }
  return out;
}

}  // namespace

backup_store::backup_store(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') {
    dir_.pop_back();
  }
  make_directories(dir_);
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) {
    throw std::runtime_error("cannot read the backup directory '" + dir_ + "'");
  }
  std::set<std::uint64_t> data_files;
  std::vector<std::string> leftovers;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    std::uint64_t order = 0;
    if (ends_with(name, ".tmp")) {
      leftovers.push_back(name);  // a write that crashed before its rename
    } else if (ends_with(name, ".data") && parse_order(name.substr(0, name.size() - 5), order)) {
      data_files.insert(order);
    } else if (ends_with(name, ".meta") && parse_order(name.substr(0, name.size() - 5), order)) {
      std::string text;
      backup_op op;
      op.order = order;
      try {
        read_small_file(dir_ + "/" + name, text, max_meta_bytes);
        const auto j = nlohmann::json::parse(text);
        op.path = j.at("path").get<std::string>();
        op.put = j.at("method").get<std::string>() == "PUT";
      } catch (const std::exception& ex) {
        SPDLOG_LOGGER_WARN(logger(), "ignoring unreadable backup record {}: {}", name, ex.what());
        leftovers.push_back(name);
        continue;
      }
      ops_.emplace(order, std::move(op));
    }
  }
  ::closedir(d);
  for (const auto& name : leftovers) {
    ::unlink((dir_ + "/" + name).c_str());
  }
  // A .meta without its payload cannot be replayed; a payload without its .meta was never
  // committed.
  for (auto it = ops_.begin(); it != ops_.end();) {
    if (data_files.count(it->first) == 0) {
      ::unlink(meta_file(it->first).c_str());
      it = ops_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto order : data_files) {
    if (ops_.count(order) == 0) {
      ::unlink(data_file(order).c_str());
    }
  }
  // A crash between a PUT's commit and the deletions it implied leaves covered ops behind.
  // Scanning backwards: a PUT covers the earlier ops at or below its path, except across a
  // (kept) PATCH of a strict ancestor, which may read or remove what those ops wrote.
  std::set<std::string> later_puts;
  std::vector<std::uint64_t> covered;
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    bool is_covered = false;
    for (const auto& p : self_and_ancestors(it->second.path)) {
      if (later_puts.count(p) != 0) {
        is_covered = true;
        break;
      }
    }
    if (is_covered) {
      covered.push_back(it->first);
    } else if (it->second.put) {
      later_puts.insert(it->second.path);
    } else {
      const std::string& patched = it->second.path;
      for (auto lp = later_puts.begin(); lp != later_puts.end();) {
        bool below = patched.empty() ? !lp->empty()
                                     : lp->size() > patched.size() &&
                                           lp->compare(0, patched.size(), patched) == 0 &&
                                           (*lp)[patched.size()] == '/';
        lp = below ? later_puts.erase(lp) : std::next(lp);
      }
    }
  }
  for (const auto order : covered) {
    ::unlink(meta_file(order).c_str());
    ::unlink(data_file(order).c_str());
    ops_.erase(order);
  }
  for (const auto& [order, op] : ops_) {
    by_path_.emplace(op.path, order);
  }
  if (!ops_.empty()) {
    next_order_ = ops_.rbegin()->first + 1;
  }
}

std::string backup_store::data_file(std::uint64_t order) const {
  return dir_ + "/" + order_name(order) + ".data";
}

std::string backup_store::meta_file(std::uint64_t order) const {
  return dir_ + "/" + order_name(order) + ".meta";
}

void backup_store::drop(std::uint64_t order) {
  // The .meta first: without it the payload is an uncommitted leftover, never a half op.
  ::unlink(meta_file(order).c_str());
  ::unlink(data_file(order).c_str());
  ops_.erase(order);
}

void backup_store::drop_covered(const std::string& path) {
  // A PATCH of a strict ancestor may read or remove what the earlier ops below it wrote (e.g.
  // [{"op":"remove","path":"/b"}] on /a needs /a/b to exist): ops before the latest such PATCH
  // must stay, or a replay would apply that PATCH to a different document.
  std::uint64_t barrier = 0;
  for (const auto& ancestor : self_and_ancestors(path)) {
    if (ancestor == path) {
      continue;
    }
    auto [lo, hi] = by_path_.equal_range(ancestor);
    for (auto it = lo; it != hi; ++it) {
      auto op = ops_.find(it->second);
      if (op != ops_.end() && !op->second.put) {
        barrier = std::max(barrier, it->second);
      }
    }
  }
  std::vector<std::multimap<std::string, std::uint64_t>::iterator> doomed;
  if (path.empty()) {
    for (auto it = by_path_.begin(); it != by_path_.end(); ++it) {
      doomed.push_back(it);
    }
  } else {
    auto [lo, hi] = by_path_.equal_range(path);
    for (auto it = lo; it != hi; ++it) {
      if (it->second > barrier) doomed.push_back(it);
    }
    // Descendants are exactly the keys in ["<path>/", "<path>0"): '0' follows '/' in ASCII.
    const auto end = by_path_.lower_bound(path + '0');
    for (auto it = by_path_.lower_bound(path + '/'); it != end; ++it) {
      if (it->second > barrier) doomed.push_back(it);
    }
  }
  for (auto it : doomed) {
    drop(it->second);
    by_path_.erase(it);
  }
}

void backup_store::record(const std::string& path, bool put, const store_body& body) {
  std::lock_guard lock(mu_);
  const auto order = next_order_++;
  const std::string data = data_file(order);
  if (body.is_file()) {
    install_file_atomically(body.file_path, data);
  } else {
    write_file_atomically(data, body.text);
  }
  const nlohmann::json meta{{"path", path}, {"method", put ? "PUT" : "PATCH"}, {"size", body.size}};
  try {
    write_file_atomically(meta_file(order), meta.dump());
  } catch (...) {
    ::unlink(data.c_str());
    throw;
  }
  if (put) {
    drop_covered(path);
  }
  ops_.emplace(order, backup_op{order, path, put});
  by_path_.emplace(path, order);
}

restore_result backup_store::restore(policy_store& store) const {
  const auto journal = ops();
  restore_result out;
  for (const auto& op : journal) {
    const std::string file = data_file(op.order);
    std::uint64_t size = 0;
    try {
      size = file_size(file);
    } catch (const std::exception& ex) {
      out.errors.push_back((op.path.empty() ? "/" : op.path) + ": " + ex.what());
      continue;
    }
    const auto body = store_body::from_file(file, size);
    try {
      op.put ? store.put(op.path, body) : store.patch(op.path, body);
      ++out.written;
    } catch (const store_error& e) {
      if (e.http_status() == 0) {
        throw;
      }
      out.errors.push_back((op.path.empty() ? "/" : op.path) + ": " + e.what());
    }
  }
  return out;
}

std::vector<backup_op> backup_store::ops() const {
  std::lock_guard lock(mu_);
  std::vector<backup_op> out;
  out.reserve(ops_.size());
  for (const auto& [order, op] : ops_) {
    out.push_back(op);
  }
  return out;
}

std::size_t backup_store::size() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

}  // namespace pdl::agent
