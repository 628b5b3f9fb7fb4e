#pragma once
// One segment file of the durable update log: an 8-byte magic, then records
//   [u32 payload length][u32 CRC32 of the next 16 bytes + payload][u64 seq][i64 accepted_at ms]
//   [payload: the update's JSON]
// all integers little-endian. Appends go to the end (pwrite at the tracked size); reads are
// pread at a known offset, so readers never move a file position and need no lock.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pdl::server {

inline constexpr std::size_t segment_header_bytes = 8;
inline constexpr std::size_t record_header_bytes = 24;
/** Larger announced payloads are treated as corruption (a torn length field). */
inline constexpr std::uint32_t max_record_payload = 1u << 30;

/** The bytes of one record. */
std::string encode_record(std::uint64_t seq, std::int64_t accepted_ms, std::string_view payload);

/** One record met by log_segment::scan(). */
struct scanned_record {
  std::uint64_t seq = 0;
  std::int64_t accepted_ms = 0;
  std::uint64_t offset = 0;  // of the record header
  std::uint32_t size = 0;    // header + payload
  std::string payload;
};

/**
 * @par Thread safety
 * read() may run concurrently with anything. append(), truncate(), sync() and scan() are called
 * by the owning log under its lock.
 */
class log_segment {
 public:
  /** Creates @p path with the magic (fails if it exists). @throws update_log_error. */
  static std::shared_ptr<log_segment> create(const std::string& path, bool sync);
  /** Opens an existing segment read-write; size() is the file size. @throws update_log_error. */
  static std::shared_ptr<log_segment> open(const std::string& path);
  ~log_segment();
  log_segment(const log_segment&) = delete;
  log_segment& operator=(const log_segment&) = delete;

  /**
   * Reads every record in order and hands the intact ones to @p on_record. Stops at the first
   * record that is incomplete, fails its CRC or announces an absurd length.
   * @return the offset where the intact records end (== size() when all are intact); a missing
   * or wrong magic returns 0.
   */
  std::uint64_t scan(const std::function<void(scanned_record&&)>& on_record) const;

  /** Writes @p bytes at the end; @return their offset. On failure the file is cut back to its
   *  previous size and update_log_error is thrown. */
  std::uint64_t append(std::string_view bytes);
  /** Cuts the file to @p size (>= the magic; the magic is rewritten when the file was shorter).
   *  @throws update_log_error. */
  void truncate(std::uint64_t size);
  /** fdatasync. @return 0 or the errno. */
  int sync() const;

  /** The payload of the record at @p offset (@p size bytes with its header), checked against
   *  its CRC and @p seq. @throws update_log_error. */
  std::string read(std::uint64_t offset, std::uint32_t size, std::uint64_t seq) const;

  std::uint64_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }
  /** Renames the file (same directory, atomic replace). @throws update_log_error. */
  void rename_to(const std::string& path);
  /** Removes the file; the open descriptor stays readable until the last owner lets go. */
  void unlink();

 private:
  log_segment(std::string path, int fd, std::uint64_t size);
  std::string path_;
  int fd_;
  std::uint64_t size_;
};

/** fsync of a directory (after creating, renaming or removing segments). @return 0 or errno. */
int sync_directory(const std::string& dir);

}  // namespace pdl::server
