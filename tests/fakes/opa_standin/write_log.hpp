#pragma once
// opa-standin --write-log FILE: one line per PUT, PATCH or DELETE answered (data or policy, any
// status), appended with one write(2) so a reader tailing the file never sees half a line:
//   <applied_ns> <METHOD> <raw path> <body bytes> <status> <received_ns>\n
// applied_ns: CLOCK_REALTIME when the emulator had applied the request (the write is visible to
// the next read); received_ns: CLOCK_REALTIME when the whole body had been received (the handler
// was called). The benchmarks (bench/) correlate these with the time a publish was accepted.
// Not an OPA feature; it changes nothing in what the stand-in answers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pdl::fakes {

class write_log {
 public:
  /** Opens @p path for appending (created 0644 when missing).
   *  @throws std::runtime_error naming the path when it cannot be opened. */
  explicit write_log(const std::string& path);
  ~write_log();
  write_log(const write_log&) = delete;
  write_log& operator=(const write_log&) = delete;

  /** Appends one line; characters of @p path outside printable ASCII become '?'. I/O errors
   *  are ignored (the stand-in keeps answering). */
  void record(std::int64_t applied_ns, std::string_view method, std::string_view path,
              std::size_t body_bytes, int status, std::int64_t received_ns) noexcept;

  /** CLOCK_REALTIME in nanoseconds. */
  static std::int64_t now_ns() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace pdl::fakes
