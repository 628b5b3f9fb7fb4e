#pragma once
// The one path an update takes into the server, from POST /data/config and from a datasource's
// WebSocket `publish`: parse and validate, check the topics the token permits, expand topics,
// assign id and seq (update_log), fan out (hub) in seq order.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <variant>

#include "server/delivery_tracker.hpp"

#include "server/http_types.hpp"
#include "server/hub.hpp"
#include "server/server_auth.hpp"
#include "server/server_stats.hpp"
#include "server/update_log.hpp"
#include "shared/http/source_rules.hpp"
#include "shared/model/errors.hpp"

namespace pdl::server {

/** 422/400 body: {"detail":[{"loc":["body",...],"msg":..,"type":"value_error"}],"error":..}.
 *  Path "entries[0].save_method" becomes loc ["body","entries",0,"save_method"]; @p where is
 *  "query" for a query parameter. */
std::string validation_error_body(const model::invalid_input& e, std::string_view where = "body");

/** Tracks (delivery_tracker::accepted) the last tracker.capacity() updates @p log holds, so
 *  their ids are known after a restart. update_intake's constructor calls it. */
void seed_delivery_tracker(const update_log& log, delivery_tracker& tracker);

/** The entries of @p u the server fetches itself (docs/fetch-once.md): a url, no inline data,
 *  and fetched_by server, or nothing said and @p fallback is server. */
std::vector<std::size_t> fetched_by_server(const model::data_update& u, model::fetched_by fallback);

class update_intake {
 public:
  /** @param tracker when set, every accepted update is tracked there (delivery status).
   *  @param sources when set, the source rules every fetched entry's url must pass (422 naming
   *  the rule otherwise); it must outlive the intake. */
  update_intake(update_log& log, hub& subscriptions, server_stats& stats,
                model::parse_limits limits = {}, delivery_tracker* tracker = nullptr,
                const http_client::source_rules* sources = nullptr,
                model::fetched_by fetched_by_default = model::fetched_by::agent);

  /**
   * Takes one DataUpdate document. The caller is already authenticated; this checks that it may
   * publish (datasource peer, 403) and its permitted_topics (403), then the body (400 malformed
   * JSON, 422 schema), then each fetched entry's url against the source rules (422 naming the
   * rule), stores it (503 when the log refuses) and fans it out.
   * @return 200 {"status":"ok","id":..,"seq":..} or the refusal.
   * The update is fanned out only once the log has stored it (durably, per its fsync policy),
   * and the answer comes after the fan-out.
   * @par Thread safety
   * Any thread, but it waits (the append's fsync or Redis round trip, then seq order): never on
   * an I/O thread or a strand. The connections call it on the publish pool through
   * publish_async() (async_dispatch.hpp), which also bounds how many wait at once.
   * Appends run concurrently (so a durable log can share one fsync among them); fan-outs are
   * released strictly in seq order, so sessions see updates in seq order.
   * It never fetches: an update with entries the server fetches (fetched_by_server()) is
   * refused with 500; publish_async() (async_dispatch.hpp) runs prepare, the fetch, commit.
   */
  http_reply submit(std::string_view body, const caller& who, std::string_view via);

  /** An update that passed every check of submit() and is not stored yet. */
  struct prepared {
    model::data_update update;
    std::chrono::steady_clock::time_point received;
    /** The entries the server fetched (index, blob): commit()'s answer lists them. */
    std::vector<std::pair<std::size_t, model::blob_ref>> fetched = {};
  };
  /** submit()'s checks alone (peer, JSON, schema, permitted topics, source rules): the update
   *  ready for commit(), or the refusal (counted). Never waits. */
  std::variant<prepared, http_reply> prepare(std::string_view body, const caller& who,
                                             std::string_view via);
  /** submit()'s second half: stores @p p (id assigned when absent), fans it out in seq order
   *  and answers. Waits like submit(). */
  http_reply commit(prepared p, std::string_view via);

  /** The refusal of a publish whose entry @p entry the server fetches (docs/fetch-once.md)
   *  and could not: @p status (422, 502, 504, 507) with @p message, counted under
   *  `source_failed` and logged. */
  http_reply refuse_fetch(std::size_t entry, int status, const std::string& message,
                          std::string_view via);

  /** Every update with seq <= this was fanned out (or lost before fan-out): replay reads the
   *  log up to here, live delivery covers what comes after. Thread-safe. */
  std::uint64_t published_seq() const;

  /** Waits until published_seq() >= @p seq, at most @p timeout (a shared log's tail catching
   *  up with an update another replica appended). Blocks: call on a pool. @return whether it
   *  got there. */
  bool wait_published(std::uint64_t seq, std::chrono::milliseconds timeout) const;

  /**
   * A shared log's tail (redis_update_log) hands over every entry here, in seq order, whichever
   * replica appended it; this fans it out and tracks it. Seqs at or below published_seq() are
   * ignored. With a shared log, submit() appends and then waits for its seq to come by here.
   */
  void publish_from_log(std::uint64_t seq, model::data_update update);

  /** A shared log's tail found where it starts (the log's head when this replica first reached
   *  it): published_seq() moves there without a fan-out, so replay covers what came before. */
  void start_from_log(std::uint64_t seq);

 private:
  /** Counts a refusal (reason from @p status unless given) and builds its reply. */
  http_reply refuse(int status, std::string response, std::optional<refusal> reason = {});

  struct pending {
    model::data_update update;
    std::vector<std::string> topics;
  };
  /** Hands @p seq (nullopt: a seq the log lost) to the sequencer, fans out every update that is
   *  now next in line, and waits until @p seq itself is out. @return its recipient count. */
  std::size_t release(std::uint64_t seq, std::optional<pending> p);
  /** Shared log: waits (bounded) until the tail published @p seq. @return its recipients. */
  std::size_t await_published(std::uint64_t seq);

  update_log& log_;
  hub& hub_;
  server_stats& stats_;
  model::parse_limits limits_;
  delivery_tracker* tracker_;
  const http_client::source_rules* sources_;
  model::fetched_by fetched_by_default_;
  mutable std::mutex fanout_mu_;
  mutable std::condition_variable fanout_cv_;
  std::uint64_t published_;                                // guarded by fanout_mu_
  std::map<std::uint64_t, std::optional<pending>> ready_;  // guarded by fanout_mu_
  std::map<std::uint64_t, std::size_t> recipients_;        // guarded by fanout_mu_
};

}  // namespace pdl::server
