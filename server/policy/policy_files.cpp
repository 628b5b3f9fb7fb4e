#include "server/policy/policy_files.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "shared/auth/sha256.hpp"
#include "shared/model/json_validator.hpp"
#include "shared/model/utf8.hpp"

namespace pdl::server::policy {
namespace fs = std::filesystem;
namespace {

bool is_policy_name(std::string_view name) {
  return name.size() > 5 && name.substr(name.size() - 5) == ".rego";
}

std::string hash_of(const std::vector<policy_file>& files) {
  std::string text;
  for (const auto& f : files) {
    text += f.path;
    text += '\0';
    text += f.digest;
    text += '\n';
  }
  return auth::sha256_hex(text).substr(0, 40);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "." ? name : dir + "/" + name;
}

struct lister {
  const scan_limits& limits;
  listing out;
  std::vector<std::pair<dev_t, ino_t>> open_dirs;  // the folders on the current path (loops)

  void walk(const fs::path& abs, const std::string& rel, std::size_t depth) {
    if (depth > limits.max_depth) {
      throw scan_error(fmt::format("{}: deeper than {} folders", rel, limits.max_depth));
    }
    struct stat st {};
    if (::stat(abs.c_str(), &st) != 0) {
      throw scan_error(fmt::format("{}: {}", rel, std::strerror(errno)));
    }
    const auto id = std::make_pair(st.st_dev, st.st_ino);
    if (std::find(open_dirs.begin(), open_dirs.end(), id) != open_dirs.end()) {
      throw scan_error(fmt::format("{}: a symbolic link loops back to a folder above it", rel));
    }
    open_dirs.push_back(id);
    out.dirs.insert(rel);
    std::error_code ec;
    fs::directory_iterator it(abs, ec);
    if (ec) {
      throw scan_error(fmt::format("{}: {}", rel, ec.message()));
    }
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) {
      throw scan_error(fmt::format("{}: {}", rel, ec.message()));
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (name.empty() || name.front() == '.') {
        continue;  // hidden, ConfigMap's ..data / ..<timestamp>, .git
      }
      const fs::path child = abs / name;
      const std::string child_rel = join(rel, name);
      struct stat cs {};
      if (::stat(child.c_str(), &cs) != 0) {
        if (errno == ENOENT) {
          continue;  // a dangling symbolic link, or removed while we looked
        }
        throw scan_error(fmt::format("{}: {}", child_rel, std::strerror(errno)));
      }
      if (S_ISDIR(cs.st_mode)) {
        walk(child, child_rel, depth + 1);
      } else if (S_ISREG(cs.st_mode) && (name == "data.json" || is_policy_name(name))) {
        if (out.files.size() >= limits.max_files) {
          throw scan_error(fmt::format("more than {} policy and data files (policy.max_files)",
                                       limits.max_files));
        }
        out.files.push_back({child_rel, static_cast<std::uintmax_t>(cs.st_size),
                             static_cast<std::int64_t>(cs.st_mtim.tv_sec) * 1'000'000'000 +
                                 cs.st_mtim.tv_nsec,
                             static_cast<std::uint64_t>(cs.st_ino),
                             static_cast<std::uint64_t>(cs.st_dev)});
      }
    }
    open_dirs.pop_back();
  }
};

std::string read_file(const fs::path& abs, const std::string& rel, std::size_t max_bytes) {
  std::ifstream in(abs, std::ios::binary);
  if (!in) {
    throw scan_error(fmt::format("{}: cannot be opened: {}", rel, std::strerror(errno)));
  }
  std::string text;
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      throw scan_error(
          fmt::format("{}: larger than {} bytes (policy.max_file_bytes)", rel, max_bytes));
    }
  }
  if (in.bad()) {
    throw scan_error(fmt::format("{}: read failed", rel));
  }
  return text;
}

}  // namespace

const policy_file* snapshot::find(std::string_view path) const {
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const policy_file& f, std::string_view p) { return f.path < p; });
  return it != files.end() && it->path == path ? &*it : nullptr;
}

snapshot snapshot::index_only() const {
  // Built field by field: copying the snapshot first would copy every text only to drop it.
  snapshot s;
  s.hash = hash;
  s.dirs = dirs;
  s.total_bytes = total_bytes;
  s.files.reserve(files.size());
  for (const auto& f : files) {
    s.files.push_back({f.path, f.kind, f.digest, {}, f.package});
  }
  return s;
}

const snapshot& empty_snapshot() {
  static const snapshot s = [] {
    snapshot e;
    e.hash = hash_of({});
    e.dirs.insert(".");
    return e;
  }();
  return s;
}

listing list_directory(const fs::path& root, const scan_limits& limits) {
  lister l{limits, {}, {}};
  l.walk(root, ".", 0);
  std::sort(l.out.files.begin(), l.out.files.end(),
            [](const listed_file& a, const listed_file& b) { return a.path < b.path; });
  return std::move(l.out);
}

snapshot read_snapshot(const fs::path& root, const listing& l, const scan_limits& limits) {
  snapshot s;
  s.dirs = l.dirs;
  s.files.reserve(l.files.size());
  for (const auto& lf : l.files) {
    policy_file f;
    f.path = lf.path;
    f.text = read_file(root / lf.path, lf.path, limits.max_file_bytes);
    s.total_bytes += f.text.size();
    if (s.total_bytes > limits.max_total_bytes) {
      throw scan_error(fmt::format("{}: the files together pass {} bytes (policy.max_total_bytes)",
                                   lf.path, limits.max_total_bytes));
    }
    const bool is_data = fs::path(lf.path).filename() == "data.json";
    if (!model::valid_utf8(f.text)) {
      throw scan_error(fmt::format("{}: not valid UTF-8", lf.path));
    }
    if (is_data) {
      f.kind = module_kind::data;
      if (auto why = model::validate_json(f.text); !why.empty()) {
        throw scan_error(fmt::format("{}: not JSON: {}", lf.path, why));
      }
    } else {
      auto package = rego_package(f.text);
      if (!package) {
        throw scan_error(fmt::format("{}: no package declaration", lf.path));
      }
      f.package = std::move(*package);
    }
    f.digest = auth::sha256_hex(f.text);
    s.files.push_back(std::move(f));
  }
  s.hash = hash_of(s.files);
  return s;
}

std::optional<std::string> rego_package(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') {
      continue;
    }
    line.remove_prefix(first);
    constexpr std::string_view keyword = "package";
    if (line.substr(0, keyword.size()) != keyword || line.size() == keyword.size() ||
        (line[keyword.size()] != ' ' && line[keyword.size()] != '\t')) {
      return std::nullopt;  // the first statement is not a package declaration
    }
    line.remove_prefix(keyword.size());
    line = line.substr(0, line.find('#'));
    const auto b = line.find_first_not_of(" \t");
    const auto e = line.find_last_not_of(" \t\r");
    if (b == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view ref = line.substr(b, e - b + 1);
    // A ref is identifiers, dots and ["string"] parts: printable ASCII without blanks.
    if (!std::all_of(ref.begin(), ref.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
      return std::nullopt;
    }
    return std::string(ref);
  }
  return std::nullopt;
}

}  // namespace pdl::server::policy
