#pragma once
// The agent's backup of what it wrote into the policy engine, on disk, in bounded memory: from it
// the agent rebuilds the engine after an engine restart or when it starts without the server.
//
// Layout of <dir>: per write, "<order>.data" (the payload, byte for byte as written) and
// "<order>.meta" ({"path":...,"method":"PUT"|"PATCH","size":N}), <order> being 16 hex digits
// increasing with every write. The .meta is written last, atomically: it commits the write.
//
// Why one ordered journal and not a DOM mirror (OPAL keeps the whole data in memory): memory stays
// bounded whatever the payload size; the index holds one path per live write. A PUT to a path
// makes every earlier write at that path or below it useless, so they are deleted, except those
// before a PATCH of a strict ancestor that lies between (that PATCH may read or remove what they
// wrote); what is left, replayed in order, rebuilds the same state (ancestors' PUTs come first
// because a later ancestor PUT would have deleted the descendant; a PATCH of an ancestor keeps
// its place and sees what it saw). PATCHes are never applied here, only journaled.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "agent/policy_store.hpp"

namespace pdl::agent {

/** One journaled write. */
struct backup_op {
  std::uint64_t order = 0;
  std::string path;  // normalised dst_path ("" = root)
  bool put = true;   // false: PATCH
};

/** How a restore went. */
struct restore_result {
  std::size_t written = 0;
  std::vector<std::string> errors;  // "<path>: <engine error>" for writes the engine refused
};

/**
 * @par Thread safety
 * Every method is thread-safe (one mutex; record() is called from the updater's workers).
 */
class backup_store {
 public:
  /** Opens @p dir, creating it (0700) when missing. Removes what a crash left behind: ".tmp"
   *  files, payloads without their .meta, and writes a later PUT made useless.
   *  @throws std::runtime_error naming the file when the directory cannot be used. */
  explicit backup_store(std::string dir);

  /** Journals a successful (or, see data_agent, an intended) write of @p body at normalised
   *  @p path; also a PATCH the engine refused (replayed, it applies or is refused again as it
   *  was). A file body is linked in (copied across filesystems), never read into memory.
   *  A PUT first drops every earlier op at @p path or below it, back to the latest PATCH of a
   *  strict ancestor of @p path (ops before that PATCH stay: it may depend on them).
   *  @throws std::runtime_error when the disk refuses (the caller logs it; the engine write
   *  itself already happened). */
  void record(const std::string& path, bool put, const store_body& body);

  /** Replays every op in order into @p store. Stops at the first write that did not reach the
   *  engine (store_error with status 0: rethrown); writes the engine refuses are collected and
   *  skipped. Blocking: worker thread. */
  restore_result restore(policy_store& store) const;

  /** The journal, in order (for tests and /status). */
  std::vector<backup_op> ops() const;
  std::size_t size() const;
  bool empty() const { return size() == 0; }
  /** Where an op's payload lives. */
  std::string data_file(std::uint64_t order) const;
  const std::string& dir() const noexcept { return dir_; }

 private:
  void drop_covered(const std::string& path);
  void drop(std::uint64_t order);
  std::string meta_file(std::uint64_t order) const;

  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, backup_op> ops_;
  std::multimap<std::string, std::uint64_t> by_path_;
  std::uint64_t next_order_ = 1;
};

}  // namespace pdl::agent
