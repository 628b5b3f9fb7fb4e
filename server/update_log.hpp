#pragma once
// The seam between accepted updates and their storage. Sequence numbers come from here, so a
// durable implementation (file_update_log; Redis later) keeps them monotonic across restarts.
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/model/data_update.hpp"

namespace pdl::server {

/** The log could not take the update (disk full, Redis down, ...). POST /data/config answers
 *  503 and nothing is delivered. The message never contains update content. */
class update_log_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  /** @param burned_seq a seq that was assigned to the update and then lost (the write could not
   *  be made durable); it is never delivered, and the caller must not wait for it. */
  update_log_error(const std::string& what, std::uint64_t burned_seq)
      : std::runtime_error(what), burned_seq_(burned_seq) {}
  /** @param for_publisher what the publisher's 503 says instead of the generic "unavailable"
   *  (no secret, no update content). */
  update_log_error(const std::string& what, std::uint64_t burned_seq, std::string for_publisher)
      : std::runtime_error(what),
        burned_seq_(burned_seq),
        for_publisher_(std::move(for_publisher)) {}
  /** 0 when no seq was assigned. */
  std::uint64_t burned_seq() const noexcept { return burned_seq_; }
  /** Empty unless the publisher should be told more than "unavailable". */
  const std::string& for_publisher() const noexcept { return for_publisher_; }

 private:
  std::uint64_t burned_seq_ = 0;
  std::string for_publisher_;
};

/** One stored update as replay needs it: the exact JSON a notify carries, and what to filter on.
 *  `json` is shared, so a record costs one copy however many sessions replay it. */
struct log_record {
  std::uint64_t seq = 0;
  std::string id;
  std::vector<std::string> topics;  // union of the entries' (expanded) topics
  std::chrono::system_clock::time_point accepted_at;
  std::shared_ptr<const std::string> json;  // model::to_json of the stored update (with seq)
};

/** A slice of the log read by update_log::read(). */
struct log_batch {
  std::vector<log_record> records;  // matching records, ascending seq
  /** Every retained record with after_seq < seq <= scanned_to was looked at (matching or not);
   *  the next read continues after it. When the read was not cut short by its limits, this is
   *  min(up_to, head()) even if no record carries that seq (compacted or lost ones). */
  std::uint64_t scanned_to = 0;
};

/**
 * An ordered log of accepted updates.
 * @par Thread safety
 * Every member may be called from any thread.
 */
class update_log {
 public:
  virtual ~update_log() = default;

  /** Stores @p update with the next sequence number (the first is 1) and returns it once the
   *  update is stored as the implementation's durability policy says. The stored copy carries
   *  the seq; @p update itself is not changed.
   *  @throws update_log_error when the update could not be stored (see burned_seq()). */
  virtual std::uint64_t append(const model::data_update& update) = 0;

  /** The retained updates with a seq greater than @p seq, oldest first. An implementation may
   *  have dropped old ones: compare the first seq with @p seq + 1 to detect a gap. */
  virtual std::vector<model::data_update> since(std::uint64_t seq) const = 0;

  /** The last assigned seq (0 when nothing was appended yet). */
  virtual std::uint64_t head() const = 0;

  /**
   * Streams the log: the retained records with after_seq < seq <= up_to whose topics meet
   * @p topics (empty set: every record), oldest first, at most @p max_records of them and
   * stopping after the record that reaches @p max_bytes of JSON (so at least one record comes
   * back when one matches). The default goes through since() (fine for small logs).
   */
  virtual log_batch read(std::uint64_t after_seq, std::uint64_t up_to,
                         const std::set<std::string>& topics, std::size_t max_records,
                         std::size_t max_bytes) const;

  /** Start of the complete range: every update with first_seq() <= seq <= head() is retained.
   *  Older ones may have been compacted away (only those needed to rebuild the current state
   *  are kept) or dropped. head() + 1 when the log is empty. */
  virtual std::uint64_t first_seq() const;

  /** Names this log's sequence space (a uuid4, sent to agents as X-PDL-Log-Id). Two logs with
   *  the same id never assign one seq to different updates: a log that starts again from seq 1
   *  (kept in memory, or its files lost) gets a new id, so an agent that saved "applied up to
   *  seq N" of another log knows to start over instead of skipping seqs 1..N as already
   *  applied. Fixed after construction, except for a shared log that has not reached its
   *  store yet (then empty: the caller must not hand it out). */
  virtual std::string log_id() const { return log_id_; }

  /** True when other servers append to the same log (Redis): the caller then fans out what
   *  the log's tail reports, its own appends included, instead of fanning out as it appends. */
  virtual bool shared() const { return false; }

  /** False while the log cannot take appends (its store is unreachable): /ready reports it. */
  virtual bool healthy() const { return true; }

  /** Non-empty when the log can never serve again without a restart (a shared log whose store
   *  lost its data under this process): /healthy fails with it so an orchestrator restarts us. */
  virtual std::string fatal_error() const { return {}; }

 protected:
  /** Starts with a fresh random id. */
  update_log();
  /** since() for implementations whose read() is the primitive: reads [@p seq, head()] in
   *  batches of @p batch_records / @p batch_bytes and parses each record. */
  std::vector<model::data_update> since_by_reading(std::uint64_t seq, std::size_t batch_records,
                                                   std::size_t batch_bytes) const;
  /** For implementations that persist their id: call from the constructor only. */
  void set_log_id(std::string id) { log_id_ = std::move(id); }

 private:
  std::string log_id_;
};

using update_log_ptr = std::unique_ptr<update_log>;

/** The union of @p update's entries' topics, in first-seen order (what a log_record carries). */
std::vector<std::string> log_topics(const model::data_update& update);

/** True when one of @p record_topics is in @p wanted (an empty @p wanted matches everything). */
bool topics_match(const std::vector<std::string>& record_topics,
                  const std::set<std::string>& wanted);

}  // namespace pdl::server
