#include "agent/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace pdl::agent {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " '" + path + "': " + std::strerror(errno));
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

/** Closes on scope exit; close errors after a successful fsync carry no information. */
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const auto n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("cannot write", path);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void commit(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    fail("cannot rename into", path);
  }
  fsync_directory(parent_of(path));
}

void copy_into(const std::string& source, const std::string& tmp) {
  fd_guard in{::open(source.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) {
    fail("cannot open", source);
  }
  fd_guard out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (out.fd < 0) {
    fail("cannot create", tmp);
  }
  std::vector<char> buf(64 * 1024);
  for (;;) {
    const auto n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("cannot read", source);
    }
    if (n == 0) {
      break;
    }
    write_all(out.fd, buf.data(), static_cast<std::size_t>(n), tmp);
  }
  if (::fsync(out.fd) != 0) {
    fail("cannot fsync", tmp);
  }
}

}  // namespace

void fsync_directory(const std::string& dir) {
  fd_guard fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.fd < 0) {
    fail("cannot open the directory", dir);
  }
  if (::fsync(fd.fd) != 0 && errno != EINVAL) {  // some filesystems refuse directory fsync
    fail("cannot fsync the directory", dir);
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  {
    fd_guard fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (fd.fd < 0) {
      fail("cannot create", tmp);
    }
    write_all(fd.fd, bytes.data(), bytes.size(), tmp);
    if (::fsync(fd.fd) != 0) {
      fail("cannot fsync", tmp);
    }
  }
  commit(tmp, path);
}

void install_file_atomically(const std::string& source, const std::string& path) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  if (::link(source.c_str(), tmp.c_str()) == 0) {
    // The data may still sit in the page cache only: the fetcher flushes, it does not fsync.
    fd_guard fd{::open(tmp.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0 || ::fsync(fd.fd) != 0) {
      const int saved = errno;
      ::unlink(tmp.c_str());
      errno = saved;
      fail("cannot fsync", tmp);
    }
  } else {
    copy_into(source, tmp);  // EXDEV (temp dir on another filesystem) and friends
  }
  commit(tmp, path);
}

void make_directories(const std::string& dir) {
  if (dir.empty()) {
    return;
  }
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) {
      continue;
    }
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      fail("cannot create the directory", partial);
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    fail("not a directory:", dir);
  }
}

bool read_small_file(const std::string& path, std::string& out, std::size_t max_bytes) {
  fd_guard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) {
    if (errno == ENOENT) {
      return false;
    }
    fail("cannot open", path);
  }
  out.clear();
  char buf[4096];
  for (;;) {
    const auto n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("cannot read", path);
    }
    if (n == 0) {
      break;
    }
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      throw std::runtime_error("'" + path + "' is larger than " + std::to_string(max_bytes) +
                               " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    fail("cannot stat", path);
  }
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace pdl::agent
