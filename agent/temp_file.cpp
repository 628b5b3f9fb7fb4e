#include "agent/temp_file.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace pdl::agent {

temp_file temp_file::create(const std::string& dir, const std::string& prefix) {
  std::string base = dir;
  if (base.empty()) {
    const char* env = std::getenv("TMPDIR");
    base = (env != nullptr && *env != '\0') ? env : "/tmp";
  }
  std::string pattern = base + "/pdl-" + prefix + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());  // mkstemp creates it 0600
  if (fd < 0) {
    throw std::runtime_error("cannot create a temp file in '" + base +
                             "': " + std::strerror(errno));
  }
  ::close(fd);
  return temp_file(std::string(buf.data()));
}

temp_file::~temp_file() { remove(); }

temp_file::temp_file(temp_file&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

temp_file& temp_file::operator=(temp_file&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

void temp_file::remove() noexcept {
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
}

}  // namespace pdl::agent
