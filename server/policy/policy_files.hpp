#pragma once
// A policy directory read into memory: its .rego files (policy modules) and data.json files
// (data modules), as OPAL's bundle server reads them from a git commit. A snapshot is
// immutable; its hash is a digest of the contents, so replicas reading the same files agree.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pdl::server::policy {

enum class module_kind { policy, data };

struct policy_file {
  std::string path;     // relative to the directory, '/'-separated: "rbac/rbac.rego"
  module_kind kind = module_kind::policy;
  std::string digest;   // SHA-256 of the bytes, hex
  std::string text;     // the bytes; empty in history snapshots (only digests are kept there)
  std::string package;  // policy modules: the package name ("app.rbac")
};

struct snapshot {
  std::string hash;                // 40 hex digits (OPAL's clients send it back as base_hash)
  std::vector<policy_file> files;  // sorted by path
  std::set<std::string> dirs;      // every directory, relative; "." is the top
  std::size_t total_bytes = 0;
  /** The full bundle of everything, made once by whoever builds the snapshot (may be null). */
  std::shared_ptr<const std::string> full_json;

  const policy_file* find(std::string_view path) const;
  /** The same snapshot without file texts (nor full_json), for the history deltas are
   *  computed against. */
  snapshot index_only() const;
};

/** The snapshot of no files at all (also what is served when no directory is configured). */
const snapshot& empty_snapshot();

struct scan_limits {
  std::size_t max_file_bytes = 4 * 1024 * 1024;
  std::size_t max_total_bytes = 32 * 1024 * 1024;
  std::size_t max_files = 10000;
  std::size_t max_depth = 32;
};

/** Why a directory cannot be served: names the file and the rule. */
class scan_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/** One file's identity as the directory lists it, to tell cheaply whether a rescan changed
 *  anything (a ConfigMap update swaps a symlink: new inodes). */
struct listed_file {
  std::string path;
  std::uintmax_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
  std::uint64_t device = 0;

  friend bool operator==(const listed_file&, const listed_file&) = default;
};

struct listing {
  std::vector<listed_file> files;  // .rego and data.json only, sorted
  std::set<std::string> dirs;

  friend bool operator==(const listing&, const listing&) = default;
};

/**
 * Lists @p root: every .rego and data.json file below it, following symbolic links (a
 * Kubernetes ConfigMap volume is made of them) and skipping every entry whose name starts with
 * '.' (ConfigMap's "..data" and "..<timestamp>" folders, .git). Other files are ignored.
 * @throws scan_error when @p root or a folder cannot be read, or a limit is exceeded.
 */
listing list_directory(const std::filesystem::path& root, const scan_limits& limits);

/**
 * Reads the files of @p l (listed from @p root) into a snapshot. Every file must be readable
 * and within the limits; a .rego must be UTF-8 with a package declaration; a data.json must be
 * one JSON value. @throws scan_error naming the first file that is not.
 */
snapshot read_snapshot(const std::filesystem::path& root, const listing& l,
                       const scan_limits& limits);

/** The package a Rego module declares ("app.rbac"), or nullopt when it declares none: the first
 *  statement after blank lines and comments must be `package <ref>`. */
std::optional<std::string> rego_package(std::string_view text);

}  // namespace pdl::server::policy
