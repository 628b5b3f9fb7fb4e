#pragma once
// Internal to shared/http: one request's way through libcurl, hop by hop, shared by the blocking
// client (client.cpp: curl_easy_perform) and the event-driven one (multi_client.cpp: a multi
// handle). A transfer configures one easy handle per hop; whoever runs the handle reports how it
// ended, and the transfer answers with the response, a failure, or the next hop to run.
#include <curl/curl.h>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "shared/http/client.hpp"

namespace pdl::http_client::detail {

/** libcurl's global state, set up once (curl_global_init is not safe to race). */
void global_init();

struct failure {
  transport_error::code what;
  std::string detail;
};

struct easy_deleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using easy_ptr = std::unique_ptr<CURL, easy_deleter>;
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

/** Options that depend on who runs the hops, applied to every easy handle. */
struct runner_options {
  /** Share handle (connection cache, DNS, TLS sessions) for blocking transfers; may be null. */
  CURLSH* share = nullptr;
  /** Open and close sockets through these (the multi client registers them with Asio); null:
   *  ::socket() and libcurl's own close. @p user is passed back. */
  curl_socket_t (*open_socket)(void* user, curlsocktype, curl_sockaddr*) = nullptr;
  int (*close_socket)(void* user, curl_socket_t) = nullptr;
  void* socket_user = nullptr;
};

/** One hop: its easy handle and what its callbacks share. Not movable (libcurl holds pointers
 *  to it). */
struct hop {
  hop(const request& r, const body_sink& s, const runner_options& run)
      : req(r), sink(s), runner(run) {}
  hop(const hop&) = delete;
  hop& operator=(const hop&) = delete;

  const request& req;
  const body_sink& sink;
  const runner_options& runner;
  easy_ptr easy;
  slist_ptr headers;
  char errbuf[CURL_ERROR_SIZE] = "";
  bool may_follow = false;             // a redirect answer to this hop would be followed
  response resp;
  // Response side.
  bool body_started = false;
  bool discard = false;                // the body of a redirect that will be followed
  std::uint64_t received = 0;
  bool too_large = false;
  bool sink_refused = false;
  std::exception_ptr error;            // thrown by the sink, the body source or a hook
  // Upload side.
  const std::string* memory_body = nullptr;
  std::size_t memory_at = 0;
  std::uint64_t sent = 0;
  bool short_upload = false;
  // Idle timeout.
  curl_off_t last_down = -1;
  curl_off_t last_up = -1;
  std::chrono::steady_clock::time_point last_progress{};
  bool connected = false;
  bool idle_expired = false;
  // Source rules.
  bool refused = false;                // some address was refused
  bool allowed = false;                // some address was allowed: a failure is then its own
  std::string refused_why;
};

/** What the caller asked for, carried from hop to hop. */
struct chain {
  std::string url;                     // this hop's, without userinfo
  std::string method;
  bool with_body = true;
  bool caller_headers = true;          // false once the origin changed
  std::string user;                    // from the first URL's userinfo (decoded)
  std::string password;
  bool has_userinfo = false;
  bool has_authorization = false;      // the caller sent its own Authorization header
  std::string origin;
  bool tls = false;
  int redirects = 0;
};


/**
 * One request, hop by hop. start() checks it and configures the first hop; run that hop's
 * handle, then call finished() with libcurl's result: it answers with the response, a failure,
 * or std::monostate when a redirect is to be followed (current() is then the next hop, ready).
 * Exceptions from the caller's callbacks are rethrown by finished(). The request and the sink
 * must outlive the transfer.
 */
class transfer {
 public:
  using outcome = std::variant<std::monostate, response, failure>;

  transfer(const request& req, const body_sink& sink, runner_options runner = {});
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  std::optional<failure> start();
  hop& current() { return *hop_; }
  outcome finished(CURLcode rc);

 private:
  std::optional<failure> next_hop();
  std::optional<failure> configure(hop& h, std::chrono::milliseconds remaining);
  failure classify(CURLcode rc, const hop& h) const;
  failure total_timeout_failure() const;

  const request& req_;
  const body_sink& sink_;
  runner_options runner_;
  chain c_;
  std::chrono::steady_clock::time_point start_{};
  std::unique_ptr<hop> hop_;
};

/** The idle timeout's check, for a runner that does not call libcurl's progress callback while
 *  a transfer is silent (the multi interface runs a handle only on its socket's events and
 *  libcurl's own deadlines): true, with h.idle_expired set, when nothing moved either way for
 *  request::idle_timeout since the request could be sent. End the hop then and report it to
 *  transfer::finished() as CURLE_ABORTED_BY_CALLBACK. */
bool idle_expired_now(hop& h);

/** The transport_error perform() reports for @p f (the request's redacted URL appended). */
transport_error to_error(const failure& f, const request& req);

}  // namespace pdl::http_client::detail
