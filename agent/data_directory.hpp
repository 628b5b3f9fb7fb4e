#pragma once
// The agent's data directory (--data-dir, OPAL_CLIENT_DATA_DIR, agent.data_dir): what survives a
// restart. Without one the agent keeps nothing: it reloads everything from the server each start.
//
//   <dir>/agent_id     the agent's stable id (generated once), sent as X-PDL-Agent-Id
//   <dir>/state.json   {"last_applied_seq":N|null,"base_loaded":bool,"server_log_id":"..."},
//                      replaced atomically
//   <dir>/backup/      backup_store: what the agent wrote into the engine
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/backup_store.hpp"

namespace pdl::agent {

/** What state.json holds. */
struct saved_state {
  std::optional<std::uint64_t> last_applied_seq;
  /** The base data was loaded once: a later start resumes instead of reloading it. */
  bool base_loaded = false;
  /** The server log whose seqs last_applied_seq counts (X-PDL-Log-Id); "" = not known yet. */
  std::string server_log_id;
};

/**
 * @par Thread safety
 * save() and backup() are thread-safe; the rest is immutable after open().
 */
class data_directory {
 public:
  /** Opens (creating, mode 0700) @p path: reads or generates the agent id, reads the saved
   *  state (an unreadable state.json is reported, not guessed), opens the backup.
   *  @throws std::runtime_error naming the file. */
  static std::unique_ptr<data_directory> open(const std::string& path);

  const std::string& path() const noexcept { return path_; }
  const std::string& agent_id() const noexcept { return agent_id_; }
  /** The state found at open(). */
  const saved_state& loaded() const noexcept { return loaded_; }
  /** Replaces state.json atomically (write, fsync, rename, fsync dir). @throws runtime_error. */
  void save(const saved_state& state);
  backup_store& backup() noexcept { return *backup_; }

 private:
  data_directory() = default;
  std::string path_;
  std::string agent_id_;
  saved_state loaded_;
  std::unique_ptr<backup_store> backup_;
  std::mutex save_mu_;
};

/** "<hostname>-<12 hex>" with characters outside [A-Za-z0-9._-] dropped; at most 64 chars. */
std::string generate_agent_id();

}  // namespace pdl::agent
