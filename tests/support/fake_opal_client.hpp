#pragma once
// A fake OPAL 0.9.x client for integration tests: it replays, against a real `opal-server` and
// an OPA (stand-in), what an unmodified `opal-client` does on the wire, as recorded in
// ../shared/opal-wire-policy.md sections 2-4 and ../shared/opal-wire.md:
//
//   - two WebSocket connections to /ws with `Authorization: Bearer <client JWT>` and none of our
//     protocol headers; on each `_ping_` (answered "pong"), then `subscribe`: the policy
//     connection to `policy:<dir>` ("policy:." by default), the data connection to the data
//     topics (`policy_data`);
//   - after the policy subscribe, `GET /policy?path=.`, applied to the store as OPAL's client
//     does (a full bundle: GET /v1/policies, PUT data modules, PUT policy modules, DELETE the
//     policies the bundle lacks, `system.*` packages kept; a delta: PUT data modules, DELETE
//     deleted data modules, PUT policy modules, DELETE deleted policy modules);
//   - after the data subscribe, `GET /data/config`, each entry on one of its topics written to
//     /v1/data<dst_path> (inline data, or the url fetched with a GET);
//   - every server `notify` answered `{"result": "None", "result_type": "str"}`, then acted on:
//     on a `policy:*` topic, `GET /policy?path=.&base_hash=<last hash>`; on a data topic, the
//     DataUpdate's entries written as above.
//
// Readiness follows OPAL (opal-reference.md 6.9, opal-wire-policy.md section 4): ready() once
// one policy transaction and one data transaction have succeeded (sticky); healthy() while the
// last of each succeeded (OPAL's documented intent, not its bug of never reading failures).
//
// Deliberately simpler or stricter than OPAL, so a misbehaving server fails a test quickly and
// visibly instead of being retried around:
//   - no reconnect, no retries (OPAL retries /policy 5 times, resends an unanswered `_ping_`
//     5 times, reconnects with backoff): a refused handshake, an unanswered call, a non-2xx
//     answer or a closed connection is recorded in problems() and the connection ends;
//   - a policy PUT answered 400 fails the transaction (OPAL accepts 400 and goes on);
//   - `system.*` packages are recognised from the policy text (OPA's `ast` is not read).
//
// Threads: each connection runs on a thread of its own (an io_context running one coroutine).
// The HTTP requests a frame causes (bundle, data config, source, store writes) are made on that
// connection's thread, blocking, after the frame is answered: the fake never has two requests
// of one connection in flight, and the two connections work concurrently, as OPAL's two
// updaters do. Every connect, handshake, call answer and HTTP request has options::timeout.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pdl::test {

class fake_opal_client {
 public:
  struct options {
    std::string server_url;  ///< "http://127.0.0.1:<port>" (plain http only)
    std::string token;       ///< the client JWT, sent on /ws and to the server's HTTP API
    std::string store_url;   ///< the OPA base URL ("http://127.0.0.1:<port>")
    std::vector<std::string> data_topics{"policy_data"};
    std::vector<std::string> policy_directories{"."};  ///< subscribed as "policy:<dir>"
    /** Every connect, handshake, wait for a call's answer, HTTP request (whole). */
    std::chrono::milliseconds timeout{5000};
  };

  /** One WebSocket text frame, as sent or received. */
  struct frame_record {
    std::string connection;  ///< "policy" or "data"
    bool inbound = false;    ///< true: server to client
    std::string text;
  };

  /** One HTTP request the fake made (to the server, a data source or the store). */
  struct request_record {
    std::string connection;  ///< the connection whose work caused it
    std::string method;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;  ///< as sent (Authorization too)
    std::string body;
    long status = 0;  ///< 0: no answer (the error is in response_body)
    std::string response_body;
  };

  /** The WebSocket upgrade of one connection. */
  struct handshake_record {
    std::string connection;
    int status = 0;  ///< 101, or the refusal's status; 0 when no answer came
    std::vector<std::pair<std::string, std::string>> headers;  ///< of the answer
  };

  struct counters {
    std::uint64_t policy_ok = 0;      ///< policy transactions (bundle fetched and applied)
    std::uint64_t policy_failed = 0;
    std::uint64_t data_ok = 0;        ///< data transactions (one per entry, as OPAL)
    std::uint64_t data_failed = 0;
    std::uint64_t notifies = 0;       ///< notify frames answered, both connections
  };

  explicit fake_opal_client(options opts);
  /** stop(). */
  ~fake_opal_client();
  fake_opal_client(const fake_opal_client&) = delete;
  fake_opal_client& operator=(const fake_opal_client&) = delete;

  /** Starts both connections' threads; returns at once (connecting happens on them). Call
   *  once. @throws std::invalid_argument when options::server_url is not http://host:port. */
  void start();
  /** Closes both sockets (no close frame: what a killed client does) and joins the threads;
   *  an HTTP request in flight finishes first (bounded by options::timeout). Idempotent. */
  void stop();

  /** @par Thread safety
   *  Every accessor below may be called from any thread while the client runs. */
  bool ready() const;
  bool healthy() const;
  counters stats() const;
  /** The hash of the last bundle applied ("" before the first). */
  std::string last_hash() const;
  std::vector<frame_record> frames() const;
  std::vector<request_record> requests() const;
  std::vector<handshake_record> handshakes() const;
  /** What went wrong, in order, each naming the connection and the step. */
  std::vector<std::string> problems() const;
  /** problems(), the handshakes, requests and frames, for an assertion message. */
  std::string describe() const;

 private:
  struct impl;
  class connection;
  std::unique_ptr<impl> impl_;
};

/** Python's `json.dumps` of a JSON text: separators ", " and ": ", ASCII only (\uXXXX,
 *  lower-case hex), keys in document order, as OPAL writes frames and store bodies.
 *  @throws nlohmann::json::parse_error on invalid JSON. */
std::string python_json_dumps(const std::string& json_text);

}  // namespace pdl::test
