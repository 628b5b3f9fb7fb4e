#include "agent/secret_refs.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace pdl::agent {
namespace {

constexpr std::string_view opening = "${secret:";
constexpr std::size_t max_secret_bytes = 64 * 1024;
constexpr std::size_t max_name_bytes = 253;  // a Kubernetes Secret key's limit

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= max_name_bytes && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ||
                  c == '.';
         });
}

}  // namespace

secret_refs::secret_refs(std::string dir, env_lookup env)
    : dir_(std::move(dir)), env_(std::move(env)) {}

bool secret_refs::has_reference(std::string_view value) {
  return value.find(opening) != std::string_view::npos;
}

std::string secret_refs::variable_of(std::string_view name) {
  std::string var = "OPAL_SECRET_";
  for (char c : name) {
    var += (c == '-' || c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return var;
}

std::optional<std::string> secret_refs::lookup(const std::string& name) const {
  if (!dir_.empty()) {
    std::ifstream in(dir_ + "/" + name, std::ios::binary);
    if (in) {
      std::string text;
      char buf[4096];
      while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        text.append(buf, static_cast<std::size_t>(in.gcount()));
        if (text.size() > max_secret_bytes + 2) {
          break;
        }
      }
      if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\r\n") == 0) {
        text.resize(text.size() - 2);
      } else if (!text.empty() && text.back() == '\n') {
        text.pop_back();
      }
      return text;
    }
  }
  if (env_) {
    return env_(variable_of(name));
  }
  return std::nullopt;
}

secret secret_refs::resolve(std::string_view header, const secret& value) const {
  const std::string& text = value.reveal();
  if (!has_reference(text)) {
    return value;
  }
  std::string out;
  std::size_t at = 0;
  for (auto start = text.find(opening); start != std::string::npos;
       start = text.find(opening, at)) {
    out.append(text, at, start - at);
    const auto name_at = start + opening.size();
    const auto end = text.find('}', name_at);
    if (end == std::string::npos) {
      throw std::runtime_error(
          fmt::format("header '{}': a ${{secret:...}} reference is not closed", header));
    }
    const std::string name = text.substr(name_at, end - name_at);
    if (!valid_name(name)) {
      throw std::runtime_error(fmt::format(
          "header '{}': '{}' is not a secret name (letters, digits, '-', '_', '.'; at most {})",
          header, name.substr(0, 64), max_name_bytes));
    }
    auto found = lookup(name);
    if (!found) {
      throw std::runtime_error(fmt::format(
          "header '{}': secret '{}' not found ({}no variable {})", header, name,
          dir_.empty() ? std::string("fetch.secrets_dir not set, ")
                       : fmt::format("no file {} in fetch.secrets_dir {}, ", name, dir_),
          variable_of(name)));
    }
    if (found->size() > max_secret_bytes) {
      throw std::runtime_error(fmt::format("header '{}': secret '{}' is larger than {} bytes",
                                           header, name, max_secret_bytes));
    }
    if (found->find_first_of("\r\n") != std::string::npos || found->find('\0') != std::string::npos) {
      throw std::runtime_error(fmt::format(
          "header '{}': secret '{}' holds a line break or a NUL byte", header, name));
    }
    out += *found;
    at = end + 1;
  }
  out.append(text, at, std::string::npos);
  return secret(std::move(out));
}

}  // namespace pdl::agent
