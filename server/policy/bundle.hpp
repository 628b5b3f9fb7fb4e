#pragma once
// OPAL's PolicyBundle JSON (GET /policy): full bundles of a snapshot and delta bundles between
// two, restricted to the requested folders, in OPAL's field order and compact form
// (../shared/opal-wire-policy.md section 1). Also the notify that announces a change.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/policy/policy_files.hpp"

namespace pdl::server::policy {

struct bundle_query {
  std::vector<std::string> paths;        // normalised, "." = everything; never empty
  std::optional<std::string> base_hash;  // 40 lower-case hex digits
};

/** Parses GET /policy's query: `path` (repeatable; a leading '/' dropped; "" or "." = all) and
 *  `base_hash`. Other parameters are ignored, as by OPAL. @throws model::invalid_input naming
 *  the parameter: a path with ".." or an empty segment, a base_hash that is not 40 hex digits. */
bundle_query parse_bundle_query(std::string_view query);

/** The first of @p paths that names neither a folder nor a file of @p s, if any. */
std::optional<std::string> missing_path(const snapshot& s, const std::vector<std::string>& paths);

/** Every module of @p s under @p paths; "old_hash": null, "deleted_files": null. */
std::string full_bundle(const snapshot& s, const std::vector<std::string>& paths);

/** What changed from @p old (texts not needed) to @p now under @p paths: added and modified
 *  modules with their whole text, deleted ones in "deleted_files" (null when none). */
std::string delta_bundle(const snapshot& old, const snapshot& now,
                         const std::vector<std::string>& paths);

/** Every folder holding a module that differs between @p old and @p now, with all the folders
 *  above it, "." included, sorted: OPAL's changed_directories. Empty when nothing differs. */
std::vector<std::string> changed_directories(const snapshot& old, const snapshot& now);

/** The notify data: {"old_policy_hash": ..., "new_policy_hash": ..., "changed_directories":
 *  [...]}, with the spaced separators of OPAL's frames. */
std::string policy_update_message(std::string_view old_hash, std::string_view new_hash,
                                  const std::vector<std::string>& dirs);

}  // namespace pdl::server::policy
