#include "tests/fakes/opa_standin/write_log.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pdl::fakes {

write_log::write_log(const std::string& path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("--write-log " + path + ": " + std::strerror(errno));
  }
}

write_log::~write_log() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::int64_t write_log::now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void write_log::record(std::int64_t applied_ns, std::string_view method, std::string_view path,
                       std::size_t body_bytes, int status, std::int64_t received_ns) noexcept {
  std::string line;
  line.reserve(64 + method.size() + path.size());
  line += std::to_string(applied_ns);
  line += ' ';
  line += method;
  line += ' ';
  for (char c : path) {
    // A path with a space or a newline would break the line format.
    line += (c > 0x20 && c < 0x7f) ? c : '?';
  }
  line += ' ';
  line += std::to_string(body_bytes);
  line += ' ';
  line += std::to_string(status);
  line += ' ';
  line += std::to_string(received_ns);
  line += '\n';
  // One write: O_APPEND makes it land whole at the end of the file.
  [[maybe_unused]] auto n = ::write(fd_, line.data(), line.size());
}

}  // namespace pdl::fakes
