#include "server/blobs/blob_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace pdl::server::blobs {
namespace fs = std::filesystem;
namespace {

void sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

std::string unique_name() {
  static std::atomic<std::uint64_t> n{0};
  return fmt::format("{}-{}.part", ::getpid(), n.fetch_add(1));
}

}  // namespace

blob_store::blob_store(fs::path dir, std::uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {
  std::error_code ec;
  fs::create_directories(dir_ / "sha256", ec);
  if (!ec) {
    fs::create_directories(dir_ / "tmp", ec);
  }
  if (ec) {
    throw blob_error(fmt::format("blob store {}: {}", dir_.string(), ec.message()));
  }
  for (const auto& e : fs::directory_iterator(dir_ / "tmp", ec)) {
    fs::remove(e.path(), ec);  // a crash's leftovers: never committed, never referred to
  }
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "sha256", ec)) {
    if (e.is_regular_file(ec) && model::is_sha256_hex(e.path().filename().string())) {
      used_ += e.file_size(ec);
      ++count_;
    }
  }
}

blob_store::writer::writer(blob_store& store, std::uint64_t max_blob_bytes)
    : store_(store), max_blob_bytes_(max_blob_bytes), temp_(store.dir_ / "tmp" / unique_name()) {
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    throw blob_error(fmt::format("blob store: cannot create a file: {}", std::strerror(errno)));
  }
}

blob_store::writer::~writer() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (reserved_here_ > 0) {
    std::lock_guard lock(store_.mu_);
    store_.reserved_ -= std::min(store_.reserved_, reserved_here_);
  }
  if (!done_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void blob_store::writer::write(std::string_view chunk) {
  if (done_) {
    throw blob_error("blob store: write after the end");
  }
  if (size_ + chunk.size() > max_blob_bytes_) {
    throw blob_error(fmt::format("the document is larger than {} bytes", max_blob_bytes_));
  }
  {
    // Blobs being written count too: concurrent publishes cannot overfill the store together.
    std::lock_guard lock(store_.mu_);
    if (store_.used_ + store_.reserved_ + chunk.size() > store_.max_bytes_) {
      throw blob_error(fmt::format("the blob store is full ({} of {} bytes used, {} being written)",
                                   store_.used_, store_.max_bytes_, store_.reserved_),
                       true);
    }
    store_.reserved_ += chunk.size();
    reserved_here_ += chunk.size();
  }
  size_ += chunk.size();
  if (!validator_.feed(chunk)) {
    throw blob_error("invalid JSON: " + validator_.error());
  }
  hash_.update(chunk);
  while (!chunk.empty()) {
    const ssize_t n = ::write(fd_, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw blob_error(fmt::format("blob store: write failed: {}", std::strerror(errno)), true);
    }
    chunk.remove_prefix(static_cast<std::size_t>(n));
  }
}

model::blob_ref blob_store::writer::commit() {
  if (done_) {
    throw blob_error("blob store: committed twice");
  }
  if (!validator_.finish()) {
    throw blob_error("invalid JSON: " + validator_.error());
  }
  if (::fdatasync(fd_) != 0) {
    throw blob_error(fmt::format("blob store: sync failed: {}", std::strerror(errno)), true);
  }
  ::close(fd_);
  fd_ = -1;
  model::blob_ref ref{hash_.finish(), size_};
  const fs::path target = store_.path_of(ref.sha256);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  std::lock_guard lock(store_.mu_);
  store_.reserved_ -= std::min(store_.reserved_, reserved_here_);
  reserved_here_ = 0;
  if (fs::exists(target, ec)) {
    fs::remove(temp_, ec);  // the same bytes are already there
  } else {
    fs::rename(temp_, target, ec);
    if (ec) {
      throw blob_error(fmt::format("blob store: cannot move the blob into place: {}",
                                   ec.message()),
                       true);
    }
    sync_dir(target.parent_path());
    store_.used_ += size_;
    ++store_.count_;
  }
  done_ = true;
  return ref;
}

fs::path blob_store::path_of(std::string_view sha256) const {
  return dir_ / "sha256" / std::string(sha256.substr(0, 2)) / std::string(sha256);
}

std::optional<fs::path> blob_store::find(std::string_view sha256) const {
  if (!model::is_sha256_hex(sha256)) {
    return std::nullopt;
  }
  fs::path p = path_of(sha256);
  std::error_code ec;
  return fs::is_regular_file(p, ec) ? std::optional<fs::path>(std::move(p)) : std::nullopt;
}

std::uint64_t blob_store::retain(const std::set<std::string>& keep,
                                 fs::file_time_type written_before) {
  std::uint64_t freed = 0;
  std::error_code ec;
  std::lock_guard lock(mu_);
  std::vector<fs::path> doomed;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "sha256", ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && model::is_sha256_hex(name) && keep.count(name) == 0 &&
        e.last_write_time(ec) < written_before && !ec) {
      doomed.push_back(e.path());
    }
  }
  for (const auto& p : doomed) {
    const std::uint64_t size = fs::file_size(p, ec);
    if (!ec && fs::remove(p, ec)) {
      freed += size;
      used_ -= std::min(used_, size);
      --count_;
    }
  }
  return freed;
}

std::uint64_t blob_store::used_bytes() const {
  std::lock_guard lock(mu_);
  return used_;
}

std::size_t blob_store::count() const {
  std::lock_guard lock(mu_);
  return count_;
}

}  // namespace pdl::server::blobs
