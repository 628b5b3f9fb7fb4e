#pragma once
// Crash-safe file replacement for the agent's data directory: a reader (the next start) sees the
// old file or the new one, never half of one, even after a power cut.
#include <cstdint>
#include <string>
#include <string_view>

namespace pdl::agent {

/**
 * Writes @p bytes to "<path>.tmp", fsyncs it, renames it over @p path, then fsyncs the
 * directory (so the rename itself is durable). A crash leaves at most a stale "<path>.tmp",
 * which the owner removes at its next start.
 * @throws std::runtime_error naming the path and the system error.
 */
void write_file_atomically(const std::string& path, std::string_view bytes);

/**
 * Installs the existing file @p source at @p path the same way: hard-links it to "<path>.tmp"
 * (no copy when both are on one filesystem; the source keeps its own name), or copies it in
 * 64 KiB chunks when linking is impossible, then fsync, rename and directory fsync.
 * @throws std::runtime_error naming the path and the system error.
 */
void install_file_atomically(const std::string& source, const std::string& path);

/** fsync of a directory, making renames and unlinks in it durable. @throws std::runtime_error. */
void fsync_directory(const std::string& dir);

/** Creates @p dir (and parents) with mode 0700 when missing. @throws std::runtime_error. */
void make_directories(const std::string& dir);

/** Reads the whole file into @p out; false when it does not exist.
 *  @throws std::runtime_error when it exists but cannot be read or exceeds @p max_bytes. */
bool read_small_file(const std::string& path, std::string& out, std::size_t max_bytes);

/** Size of a regular file. @throws std::runtime_error. */
std::uint64_t file_size(const std::string& path);

}  // namespace pdl::agent
