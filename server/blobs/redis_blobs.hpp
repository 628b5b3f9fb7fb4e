#pragma once
// Blobs shared by replicas through Redis (docs/fetch-once.md, "Replicas"): the replica that
// fetched a source copies the blob to `<prefix>:blob:<sha256>` before it appends the update,
// so every replica that tails the update can serve its bytes, also once the fetching replica is
// gone. Copies go in chunks both ways (APPEND to a temporary key then RENAME; GETRANGE), so
// neither side holds a whole document in memory. Blocking: call from a pool.
// With min_replicas (Sentinel, docs/replicas.md) a put ends with a WAIT on its connection, so a
// blob is on that many replicas before its update is appended; the temporary key is renamed
// only when it holds every byte (a failover in the middle of a copy fails the put).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/blobs/blob_store.hpp"
#include "shared/model/data_update.hpp"
#include "shared/redis/client.hpp"

namespace pdl::server::blobs {

class redis_blobs {
 public:
  redis_blobs(redis::endpoint where, std::string key_prefix, std::chrono::milliseconds timeout,
              int min_replicas = 0,
              std::chrono::milliseconds min_replicas_timeout = std::chrono::milliseconds(1000));

  /** Copies the file of @p ref into Redis (a no-op when the key exists with that size).
   *  @throws redis::redis_error, blob_error (the file cannot be read). */
  void put(const model::blob_ref& ref, const std::filesystem::path& file);

  /**
   * Copies `<prefix>:blob:<sha256>` into @p store (validated and hashed on the way: bytes that
   * do not hash to @p sha256 are refused). One copy at a time per blob: concurrent callers for
   * the same blob wait for the first. @return false when Redis has no such blob.
   * @throws redis::redis_error, blob_error.
   */
  bool fetch_into(blob_store& store, std::string_view sha256, std::uint64_t max_blob_bytes);

  /** Deletes the blobs in Redis whose hash is not in @p keep and that were put before
   *  @p put_before (`<prefix>:blobs`, a sorted set of put times, says when). @return how many. */
  std::size_t retain(const std::set<std::string>& keep,
                     std::chrono::system_clock::time_point put_before);

  std::string key_of(std::string_view sha256) const;

  /** Base entries refreshed by one replica at a time (base_refresh.hpp): true when this call
   *  took `<prefix>:refresh:<name>` for @p hold (SET NX PX). */
  bool try_lead(const std::string& name, std::chrono::milliseconds hold);
  /** The blob the leading replica last fetched for base entry @p name, and recording it. */
  std::optional<model::blob_ref> current(const std::string& name);
  void set_current(const std::string& name, const model::blob_ref& ref);

 private:
  /** With min_replicas: @throws redis::redis_error unless @p wait (a WAIT reply) says enough
   *  replicas have the blob. */
  void check_replicated(const redis::reply& wait, std::string_view sha256) const;
  std::vector<std::string> wait_command() const;

  std::string prefix_;
  int min_replicas_ = 0;
  std::chrono::milliseconds min_replicas_timeout_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<redis::client> client_;
  std::mutex flights_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>, std::less<>> flights_;  // by sha256
};

}  // namespace pdl::server::blobs
