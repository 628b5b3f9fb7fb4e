#pragma once
// The memory one HTTP transfer reads and writes through, mapped for the transfer and unmapped
// after it.
#include <cstddef>

namespace pdl::http_client {

/**
 * Two fixed areas in one private anonymous mapping: the read buffer the response is parsed from
 * and the chunk buffer bodies are copied through.
 *
 * Why not malloc: glibc keeps a freed block under its mmap threshold (128 KiB) in the arena of the
 * thread that freed it, resident. The agent's transfers run on short-lived worker threads, each
 * with its own arena, so every such thread kept ~80 KiB of freed buffers resident for good
 * (~250 KiB of the idle agent). Pages of a mapping become resident only when touched and all
 * return to the system at munmap.
 */
class transfer_buffers {
 public:
  /** @throws std::bad_alloc when the mapping fails. */
  transfer_buffers(std::size_t read_bytes, std::size_t chunk_bytes);
  ~transfer_buffers();
  transfer_buffers(const transfer_buffers&) = delete;
  transfer_buffers& operator=(const transfer_buffers&) = delete;

  char* read_area() const noexcept { return base_; }
  std::size_t read_size() const noexcept { return read_bytes_; }
  char* chunk() const noexcept { return base_ + read_bytes_; }
  std::size_t chunk_size() const noexcept { return chunk_bytes_; }

 private:
  char* base_ = nullptr;
  std::size_t read_bytes_;
  std::size_t chunk_bytes_;
  std::size_t mapped_ = 0;
};

}  // namespace pdl::http_client
