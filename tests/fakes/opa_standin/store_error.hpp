#pragma once
// The three storage errors OPA's in-memory store raises, with the HTTP mapping OPA's server
// applies to them (writer.ErrorAuto).
#include <string>
#include <vector>

namespace pdl::fakes {

/** A path into the data document, one decoded key per segment; empty = the root. */
using store_path = std::vector<std::string>;

/** storage.Path.String(): "/a/b", and "/" for the root. */
std::string path_string(const store_path& path);

struct store_error {
  enum class kind { not_found, write_conflict, invalid_patch };
  kind what;
  std::string detail;  // "/a/b: document does not exist", "/s", "root must be object"

  /** 404 for not_found and write_conflict, 400 for invalid_patch. */
  int http_status() const;
  /** "resource_not_found", "resource_conflict" or "invalid_parameter". */
  std::string api_code() const;
  /** "storage_not_found_error: " + detail, and so on. */
  std::string message() const;

  static store_error not_found(const store_path& path, const std::string& hint = {});
  static store_error write_conflict(const store_path& path);
  static store_error invalid_patch(std::string detail);
};

}  // namespace pdl::fakes
