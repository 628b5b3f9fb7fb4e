#include "shared/http/transfer_buffers.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <new>

namespace pdl::http_client {

transfer_buffers::transfer_buffers(std::size_t read_bytes, std::size_t chunk_bytes)
    : read_bytes_(read_bytes), chunk_bytes_(chunk_bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  mapped_ = (read_bytes + chunk_bytes + page - 1) / page * page;
  void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::bad_alloc();
  }
  base_ = static_cast<char*>(p);
}

transfer_buffers::~transfer_buffers() { ::munmap(base_, mapped_); }

}  // namespace pdl::http_client
