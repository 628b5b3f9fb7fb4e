#pragma once
// A uniquely named file in a temp directory, removed when its owner goes away.
#include <string>

namespace pdl::agent {

/** Move-only owner of a temp file path. The file is created (empty, mode 0600) by create() and
 *  unlinked by the destructor. Thread safety: one owner at a time. */
class temp_file {
 public:
  temp_file() = default;
  /** Creates "<dir>/pdl-<prefix>-XXXXXX". @p dir "" = $TMPDIR or /tmp.
   *  @throws std::runtime_error naming the directory when the file cannot be created. */
  static temp_file create(const std::string& dir, const std::string& prefix);
  ~temp_file();
  temp_file(temp_file&& other) noexcept;
  temp_file& operator=(temp_file&& other) noexcept;
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  const std::string& path() const noexcept { return path_; }
  bool valid() const noexcept { return !path_.empty(); }

 private:
  explicit temp_file(std::string path) : path_(std::move(path)) {}
  void remove() noexcept;
  std::string path_;
};

}  // namespace pdl::agent
