#include "tests/fakes/opa_standin/store_error.hpp"

namespace pdl::fakes {

std::string path_string(const store_path& path) {
  if (path.empty()) {
    return "/";
  }
  std::string out;
  for (const auto& seg : path) {
    out += '/';
    out += seg;
  }
  return out;
}

int store_error::http_status() const { return what == kind::invalid_patch ? 400 : 404; }

std::string store_error::api_code() const {
  switch (what) {
    case kind::not_found: return "resource_not_found";
    case kind::write_conflict: return "resource_conflict";
    case kind::invalid_patch: break;
  }
  return "invalid_parameter";
}

std::string store_error::message() const {
  switch (what) {
    case kind::not_found: return "storage_not_found_error: " + detail;
    case kind::write_conflict: return "storage_write_conflict_error: " + detail;
    case kind::invalid_patch: break;
  }
  return "storage_invalid_patch_error: " + detail;
}

store_error store_error::not_found(const store_path& path, const std::string& hint) {
  return {kind::not_found, path_string(path) + ": " + (hint.empty() ? "document does not exist" : hint)};
}

store_error store_error::write_conflict(const store_path& path) {
  return {kind::write_conflict, path_string(path)};
}

store_error store_error::invalid_patch(std::string detail) {
  return {kind::invalid_patch, std::move(detail)};
}

}  // namespace pdl::fakes
