#pragma once
// Content-addressed storage of the documents the server fetched for agents (issue 12,
// docs/fetch-once.md): each blob is named by the SHA-256 of its bytes, written once through the
// incremental JSON validator (never a DOM), synced, then renamed into place, so a blob that
// exists is whole. Layout: <dir>/sha256/<first two hex>/<64 hex>, temp files in <dir>/tmp.
// Blocking (file writes, fsync): call it from a pool, never an I/O thread.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "shared/auth/sha256.hpp"
#include "shared/model/data_update.hpp"
#include "shared/model/json_validator.hpp"

namespace pdl::server::blobs {

/** A blob refused: invalid JSON (with the byte offset), over a limit, the store full, an I/O
 *  failure. The message is safe to return to the publisher. */
class blob_error : public std::runtime_error {
 public:
  explicit blob_error(const std::string& message, bool store_side = false)
      : std::runtime_error(message), store_side_(store_side) {}
  /** The store could not keep the document (no room under blobs.max_bytes, a failed write),
   *  rather than the document being wrong. */
  bool store_side() const noexcept { return store_side_; }

 private:
  bool store_side_;
};

class blob_store {
 public:
  /** @p max_bytes bounds all blobs together. Creates @p dir; removes temp files a crash left;
   *  counts what is there. @throws blob_error when @p dir cannot be used. */
  blob_store(std::filesystem::path dir, std::uint64_t max_bytes);

  /** One blob on its way in. Destroying it uncommitted removes its temp file. */
  class writer {
   public:
    writer(blob_store& store, std::uint64_t max_blob_bytes);
    ~writer();
    writer(const writer&) = delete;
    writer& operator=(const writer&) = delete;

    /** Hashes, validates and writes @p chunk. @throws blob_error (the rest is refused too). */
    void write(std::string_view chunk);
    /** Ends the document (it must be exactly one JSON value), syncs it and moves it into place;
     *  an identical blob already there is kept. @throws blob_error. */
    model::blob_ref commit();

   private:
    blob_store& store_;
    std::uint64_t max_blob_bytes_;
    std::filesystem::path temp_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::uint64_t reserved_here_ = 0;  // this writer's share of the store's reserved_
    auth::sha256_stream hash_;
    model::json_validator validator_;
    bool done_ = false;
  };

  /** The file of blob @p sha256 (64 lower-case hex digits), if the store has it. */
  std::optional<std::filesystem::path> find(std::string_view sha256) const;
  /** Removes every blob whose hash is not in @p keep and that was written before
   *  @p written_before (blobs of publishes still in flight are younger). @return the bytes
   *  freed. */
  std::uint64_t retain(const std::set<std::string>& keep,
                       std::filesystem::file_time_type written_before =
                           std::filesystem::file_time_type::max());

  std::uint64_t used_bytes() const;
  std::uint64_t max_bytes() const { return max_bytes_; }
  std::size_t count() const;

 private:
  std::filesystem::path path_of(std::string_view sha256) const;

  const std::filesystem::path dir_;
  const std::uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::uint64_t used_ = 0;   // guarded by mu_
  std::size_t count_ = 0;    // guarded by mu_
  std::uint64_t reserved_ = 0;  // guarded by mu_: bytes of blobs being written
};

}  // namespace pdl::server::blobs
