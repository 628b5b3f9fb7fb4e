#include "server/log_segment.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "server/update_log.hpp"

namespace pdl::server {
namespace {

constexpr std::string_view magic = "PDLLOG01";

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

std::uint32_t crc_of(const char* data, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed in chunks so payloads near 4 GiB stay correct.
  while (n > 0) {
    auto chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw update_log_error(what + " " + path + ": " + std::strerror(err));
}

bool pread_all(int fd, char* buf, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    buf += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return true;
}

bool pwrite_all(int fd, const char* buf, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    ssize_t r = ::pwrite(fd, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      return false;
    }
    buf += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return true;
}

}  // namespace

std::string encode_record(std::uint64_t seq, std::int64_t accepted_ms, std::string_view payload) {
  std::string out;
  out.reserve(record_header_bytes + payload.size());
  put_le(out, payload.size(), 4);
  put_le(out, 0, 4);  // CRC, filled in below
  put_le(out, seq, 8);
  put_le(out, static_cast<std::uint64_t>(accepted_ms), 8);
  out.append(payload);
  std::uint32_t crc = crc_of(out.data() + 8, out.size() - 8);
  for (int i = 0; i < 4; ++i) {
    out[4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
  return out;
}

log_segment::log_segment(std::string path, int fd, std::uint64_t size)
    : path_(std::move(path)), fd_(fd), size_(size) {}

log_segment::~log_segment() { ::close(fd_); }

std::shared_ptr<log_segment> log_segment::create(const std::string& path, bool sync) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail("cannot create log segment", path, errno);
  }
  std::shared_ptr<log_segment> seg(new log_segment(path, fd, 0));
  if (!pwrite_all(fd, magic.data(), magic.size(), 0) || (sync && ::fdatasync(fd) != 0)) {
    int err = errno;
    ::unlink(path.c_str());
    fail("cannot write log segment", path, err);
  }
  seg->size_ = magic.size();
  return seg;
}

std::shared_ptr<log_segment> log_segment::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fail("cannot open log segment", path, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail("cannot stat log segment", path, err);
  }
  return std::shared_ptr<log_segment>(
      new log_segment(path, fd, static_cast<std::uint64_t>(st.st_size)));
}

std::uint64_t log_segment::scan(const std::function<void(scanned_record&&)>& on_record) const {
  char head[record_header_bytes];
  if (size_ < magic.size() || !pread_all(fd_, head, magic.size(), 0) ||
      std::string_view(head, magic.size()) != magic) {
    return 0;
  }
  std::uint64_t at = magic.size();
  std::string buf;
  while (at + record_header_bytes <= size_) {
    if (!pread_all(fd_, head, record_header_bytes, at)) {
      break;
    }
    auto len = static_cast<std::uint32_t>(get_le(head, 4));
    auto crc = static_cast<std::uint32_t>(get_le(head + 4, 4));
    if (len > max_record_payload || at + record_header_bytes + len > size_) {
      break;
    }
    buf.assign(head + 8, record_header_bytes - 8);
    buf.resize(record_header_bytes - 8 + len);
    if (!pread_all(fd_, buf.data() + (record_header_bytes - 8), len, at + record_header_bytes)) {
      break;
    }
    if (crc_of(buf.data(), buf.size()) != crc) {
      break;
    }
    scanned_record r;
    r.seq = get_le(head + 8, 8);
    r.accepted_ms = static_cast<std::int64_t>(get_le(head + 16, 8));
    r.offset = at;
    r.size = static_cast<std::uint32_t>(record_header_bytes + len);
    r.payload = buf.substr(record_header_bytes - 8);
    at += r.size;
    on_record(std::move(r));
  }
  return at;
}

std::uint64_t log_segment::append(std::string_view bytes) {
  std::uint64_t at = size_;
  if (!pwrite_all(fd_, bytes.data(), bytes.size(), at)) {
    int err = errno;
    // A partial record must not stay behind: the next one would follow garbage.
    if (::ftruncate(fd_, static_cast<off_t>(at)) != 0) {
      fail("cannot write log segment (and cannot cut back a partial record)", path_, err);
    }
    fail("cannot write log segment", path_, err);
  }
  size_ = at + bytes.size();
  return at;
}

void log_segment::truncate(std::uint64_t size) {
  if (size < magic.size()) {
    size = 0;
  }
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    fail("cannot truncate log segment", path_, errno);
  }
  size_ = size;
  if (size == 0) {
    if (!pwrite_all(fd_, magic.data(), magic.size(), 0)) {
      fail("cannot write log segment", path_, errno);
    }
    size_ = magic.size();
  }
}

int log_segment::sync() const { return ::fdatasync(fd_) == 0 ? 0 : errno; }

std::string log_segment::read(std::uint64_t offset, std::uint32_t size, std::uint64_t seq) const {
  if (size < record_header_bytes) {
    throw update_log_error("bad record size in " + path_);
  }
  std::string buf(size, '\0');
  if (!pread_all(fd_, buf.data(), size, offset)) {
    fail("cannot read log segment", path_, errno == 0 ? EIO : errno);
  }
  auto len = get_le(buf.data(), 4);
  auto crc = static_cast<std::uint32_t>(get_le(buf.data() + 4, 4));
  if (len + record_header_bytes != size || get_le(buf.data() + 8, 8) != seq ||
      crc_of(buf.data() + 8, size - 8) != crc) {
    throw update_log_error("record " + std::to_string(seq) + " in " + path_ +
                           " is damaged (CRC or header mismatch)");
  }
  return buf.substr(record_header_bytes);
}

void log_segment::rename_to(const std::string& path) {
  if (::rename(path_.c_str(), path.c_str()) != 0) {
    fail("cannot rename log segment", path_, errno);
  }
  path_ = path;
}

void log_segment::unlink() { ::unlink(path_.c_str()); }

int sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return errno;
  }
  int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

}  // namespace pdl::server
