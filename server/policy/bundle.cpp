#include "server/policy/bundle.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "shared/http/url.hpp"
#include "shared/model/errors.hpp"

namespace pdl::server::policy {
namespace {

using ordered = nlohmann::ordered_json;

constexpr std::size_t max_query_paths = 100;

bool is_hex40(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::string decode(std::string_view v) {
  std::string plus(v);
  std::replace(plus.begin(), plus.end(), '+', ' ');
  return percent_decode(plus);
}

std::string normalise_path(std::string p) {
  while (!p.empty() && p.front() == '/') {
    p.erase(0, 1);
  }
  while (p.size() > 1 && p.back() == '/') {
    p.pop_back();
  }
  if (p.empty() || p == ".") {
    return ".";
  }
  if (p.rfind("./", 0) == 0) {
    p.erase(0, 2);
  }
  std::size_t at = 0;
  while (at <= p.size()) {
    const auto end = std::min(p.find('/', at), p.size());
    const std::string_view seg(p.data() + at, end - at);
    if (seg.empty() || seg == "." || seg == "..") {
      throw model::invalid_input("path", "'" + p + "' is not a folder of the policy directory "
                                         "(no '..', '.' or empty segments)");
    }
    at = end + 1;
  }
  return p;
}

/** Whether @p file (a module path) lies in the folder @p dir ("." = everywhere). */
bool under(std::string_view file, std::string_view dir) {
  return dir == "." || file == dir ||
         (file.size() > dir.size() && file.substr(0, dir.size()) == dir && file[dir.size()] == '/');
}

bool under_any(std::string_view file, const std::vector<std::string>& dirs) {
  return std::any_of(dirs.begin(), dirs.end(), [&](const auto& d) { return under(file, d); });
}

/** OPAL names a data module by the folder that holds its data.json ("." at the top). */
std::string data_module_path(std::string_view file) {
  const auto slash = file.rfind('/');
  return slash == std::string_view::npos ? "." : std::string(file.substr(0, slash));
}

void add_module(const policy_file& f, ordered& data_modules, ordered& policy_modules) {
  if (f.kind == module_kind::data) {
    data_modules.push_back(ordered{{"path", data_module_path(f.path)}, {"data", f.text}});
  } else {
    policy_modules.push_back(
        ordered{{"path", f.path}, {"package_name", f.package}, {"rego", f.text}});
  }
}

std::string dump(const ordered& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

bundle_query parse_bundle_query(std::string_view query) {
  bundle_query q;
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string name = decode(pair.substr(0, eq));
    const std::string value = eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
    if (name == "path") {
      if (q.paths.size() == max_query_paths) {
        throw model::invalid_input("path", "more than 100 paths");
      }
      q.paths.push_back(normalise_path(value));
    } else if (name == "base_hash") {
      if (!value.empty()) {
        if (!is_hex40(value)) {
          throw model::invalid_input("base_hash", "expected the 40 hexadecimal digits of a "
                                                  "bundle's hash");
        }
        std::string lower = value;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        q.base_hash = std::move(lower);
      }
    }
  }
  if (q.paths.empty() ||
      std::find(q.paths.begin(), q.paths.end(), ".") != q.paths.end()) {
    q.paths = {"."};
  }
  std::sort(q.paths.begin(), q.paths.end());
  q.paths.erase(std::unique(q.paths.begin(), q.paths.end()), q.paths.end());
  return q;
}

std::optional<std::string> missing_path(const snapshot& s, const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    if (s.dirs.count(p) == 0 && s.find(p) == nullptr) {
      return p;
    }
  }
  return std::nullopt;
}

std::string full_bundle(const snapshot& s, const std::vector<std::string>& paths) {
  ordered manifest = ordered::array();
  ordered data_modules = ordered::array();
  ordered policy_modules = ordered::array();
  for (const auto& f : s.files) {
    if (under_any(f.path, paths)) {
      manifest.push_back(f.path);
      add_module(f, data_modules, policy_modules);
    }
  }
  ordered doc;
  doc["manifest"] = std::move(manifest);
  doc["hash"] = s.hash;
  doc["old_hash"] = nullptr;
  doc["data_modules"] = std::move(data_modules);
  doc["policy_modules"] = std::move(policy_modules);
  doc["deleted_files"] = nullptr;
  return dump(doc);
}

std::string delta_bundle(const snapshot& old, const snapshot& now,
                         const std::vector<std::string>& paths) {
  ordered manifest = ordered::array();
  ordered data_modules = ordered::array();
  ordered policy_modules = ordered::array();
  for (const auto& f : now.files) {
    const policy_file* before = old.find(f.path);
    if (under_any(f.path, paths) && (before == nullptr || before->digest != f.digest)) {
      manifest.push_back(f.path);
      add_module(f, data_modules, policy_modules);
    }
  }
  ordered deleted_data = ordered::array();
  std::vector<std::string> deleted_policies;
  for (const auto& f : old.files) {
    if (under_any(f.path, paths) && now.find(f.path) == nullptr) {
      if (f.kind == module_kind::data) {
        deleted_data.push_back(data_module_path(f.path));
      } else {
        deleted_policies.push_back(f.path);
      }
    }
  }
  // As OPAL: deleted policies in reverse order, so that dependants go before what they import.
  std::reverse(deleted_policies.begin(), deleted_policies.end());
  ordered doc;
  doc["manifest"] = std::move(manifest);
  doc["hash"] = now.hash;
  doc["old_hash"] = old.hash;
  doc["data_modules"] = std::move(data_modules);
  doc["policy_modules"] = std::move(policy_modules);
  if (deleted_data.empty() && deleted_policies.empty()) {
    doc["deleted_files"] = nullptr;
  } else {
    doc["deleted_files"] =
        ordered{{"data_modules", std::move(deleted_data)}, {"policy_modules", deleted_policies}};
  }
  return dump(doc);
}

std::vector<std::string> changed_directories(const snapshot& old, const snapshot& now) {
  std::set<std::string> dirs;
  auto add = [&](const std::string& file) {
    dirs.insert(".");
    for (auto slash = file.find('/'); slash != std::string::npos;
         slash = file.find('/', slash + 1)) {
      dirs.insert(file.substr(0, slash));
    }
  };
  for (const auto& f : now.files) {
    const policy_file* before = old.find(f.path);
    if (before == nullptr || before->digest != f.digest) {
      add(f.path);
    }
  }
  for (const auto& f : old.files) {
    if (now.find(f.path) == nullptr) {
      add(f.path);
    }
  }
  return {dirs.begin(), dirs.end()};
}

std::string policy_update_message(std::string_view old_hash, std::string_view new_hash,
                                  const std::vector<std::string>& dirs) {
  auto quote = [](std::string_view s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::string out = "{\"old_policy_hash\": " + quote(old_hash) +
                    ", \"new_policy_hash\": " + quote(new_hash) + ", \"changed_directories\": [";
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    out += (i == 0 ? "" : ", ") + quote(dirs[i]);
  }
  return out + "]}";
}

}  // namespace pdl::server::policy
