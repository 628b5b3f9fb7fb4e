#pragma once
// Test helper: inline YAML written to a temporary file, removed on destruction.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

namespace pdl::config::test {

class yaml_file {
 public:
  explicit yaml_file(std::string_view text) {
    char tmpl[] = "/tmp/pdl_config_test_XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0) {
      std::abort();
    }
    ::close(fd);
    path_ = tmpl;
    std::ofstream(path_) << text;
  }
  ~yaml_file() { std::remove(path_.c_str()); }
  yaml_file(const yaml_file&) = delete;
  yaml_file& operator=(const yaml_file&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace pdl::config::test
