#pragma once
// OPAL-compatible update reports: with OPAL_SHOULD_REPORT_ON_DATA_UPDATES=true, after each update
// the agent POSTs a DataUpdateReport (opal-reference.md §2.7, §6.10) to the default callbacks
// (OPAL_DEFAULT_UPDATE_CALLBACKS, default <server>/data/callback_report) and to the update's own
// callback.callbacks.
//
// Differences from OPAL, on purpose:
// - the client token goes along as "Authorization: Bearer" (OPAL sends none, so its server
//   answers 401), but only to the configured servers' origins: a callback URL in an update is
//   chosen by a publisher and must not receive the agent's credentials;
// - each entry's config has its header values replaced by "<redacted>"; inline data larger
//   than 64 KiB is reported as null;
// - "hash" is the hex sha256 of the bytes written to the engine, not of Python's json.dumps.
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/updater.hpp"
#include "shared/http/client.hpp"
#include "shared/http/source_rules.hpp"
#include "shared/log/secret.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace pdl::agent {

struct reporter_options {
  std::vector<std::string> default_callbacks;  // URLs, POSTed with a JSON content type
  secret token;                                // the client token
  std::vector<std::string> token_origins;      // url_origin() of the URLs that may receive it
  std::size_t max_queue = 1000;                // requests waiting; beyond, the oldest is dropped
  std::chrono::milliseconds timeout{10000};
  tls::client_files tls;  // the agent's tls.* (server hop)
  /** The source rules, applied to the callbacks an update names (a publisher chooses those,
   *  as it chooses sources); the configured default callbacks are the operator's. Null: none. */
  std::shared_ptr<const http_client::source_rules> rules;
};

/** Performs one request; returns the HTTP status, or 0 with @p error set. Blocking. */
using report_sender = std::function<long(const http_client::request& req, std::string& error)>;

/**
 * report() builds the requests and queues them; one coroutine sends them one at a time on the
 * thread pool. A failed request is not retried; the first failure per URL is logged (warn), the
 * next ones only at debug until that URL works again.
 *
 * @par Thread safety
 * Construct, call and destroy on the io_context's thread; destroy after the io_context stopped.
 */
class update_reporter {
 public:
  update_reporter(boost::asio::io_context& ioc, boost::asio::thread_pool& pool,
                  reporter_options options, report_sender sender = {});
  ~update_reporter();
  update_reporter(const update_reporter&) = delete;
  update_reporter& operator=(const update_reporter&) = delete;

  /** Queues the report of one processed update. @p callback_json: the update's raw
   *  UpdateCallback ({"callbacks":[url | [url, HttpFetcherConfig]]}). */
  void report(const std::optional<std::string>& update_id, const std::string& callback_json,
              const std::vector<entry_report>& reports);
  void stop();
  std::size_t queued() const noexcept { return queue_.size(); }
  std::uint64_t sent() const noexcept { return sent_; }
  /** Requests that failed (a status other than 2xx, a transport error, a refused URL). */
  std::uint64_t failed() const noexcept { return failed_; }

  /** The DataUpdateReport body: {"update_id","reports":[{"entry","fetched","saved","hash"}],
   *  "policy_hash":null,"user_data":{}}. */
  static std::string report_json(const std::optional<std::string>& update_id,
                                 const std::vector<entry_report>& reports);

 private:
  struct pending {
    http_client::request req;
  };
  void enqueue(http_client::request req);
  void drain();

  struct impl;
  std::unique_ptr<impl> impl_;
  reporter_options options_;
  std::shared_ptr<http_client::connection_pool> connections_ =
      std::make_shared<http_client::connection_pool>();
  report_sender sender_;
  std::deque<pending> queue_;
  std::set<std::string> failing_urls_;
  bool draining_ = false;
  bool stopped_ = false;
  bool overflow_logged_ = false;
  std::uint64_t sent_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace pdl::agent
