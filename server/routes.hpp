#pragma once
// The route table: the single place that lists what the server answers. Dispatch and
// /openapi.json are both built from it (a unit test checks they agree).
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http_types.hpp"

namespace pdl::server {

struct server_context;

using handler_fn = http_reply (*)(server_context&, const http_request&);
/** A check of a request on its head alone: the refusal, or nullopt to go on. */
using head_check_fn = std::optional<http_reply> (*)(server_context&, const http_request&);

/** What /openapi.json says about a route. */
struct route_doc {
  std::string_view summary;
  bool bearer = false;                  // needs a JWT (or the master token for /token)
  std::string_view request_schema;      // components/schemas name, "" = no body
  /** status -> response schema name ("" = none documented). */
  std::vector<std::pair<int, std::string_view>> responses;
};

struct route {
  std::string method;
  std::string path;
  handler_fn handler;  // nullptr for GET /ws (the connection handles the upgrade)
  route_doc doc;
  /** Run before a large body is read (the Authorization header): a caller the handler would
   *  refuse anyway is refused without reading it. Must give the handler's own refusal. */
  head_check_fn before_body = nullptr;
  /** The route publishes an update, which waits for the update log: dispatch_async
   *  (async_dispatch.hpp) authenticates inline, then runs the publish on the publish pool
   *  within limits.max_pending_publishes. Every other handler is cheap and runs inline. */
  bool publishes = false;
  /** The handler may wait on the disk (or Redis): dispatch_async runs it on the read pool. */
  bool blocking = false;
  /** Blocking only with replicas (server_context::shared_deliveries: the handler asks Redis);
   *  alone it is cheap and runs inline. */
  bool blocking_with_replicas = false;
};

/** Every route, with @p data_config_route in place of /data/config. */
std::vector<route> route_table(const std::string& data_config_route);

/** True when @p path matches the route @p pattern, where a segment "{name}" matches any one
 *  non-empty segment ("/data/updates/{id}" matches "/data/updates/abc", not "/data/updates/"). */
bool path_matches(std::string_view pattern, std::string_view path);

/** The 500 every handler exception becomes: a fixed JSON body; @p why goes only to the log
 *  (http_reply::log_detail). */
http_reply internal_error_reply(std::string why);
/** The same for the exception @p e a handler threw ("handler failed: <what>", without the
 *  input bytes a parser error quotes). */
http_reply internal_error_reply(const std::exception_ptr& e);

/** The route for @p req's method and path, or nullptr. */
const route* find_route(const server_context& ctx, const http_request& req);

/**
 * Routes @p req: the handler's answer, 405 (with Allow) when the path exists for other
 * methods, else 404 {"detail":"Not Found"}. Runs every handler on the calling thread,
 * publishes included: the connections use dispatch_async (async_dispatch.hpp).
 * This is the exception boundary of the HTTP handlers: a handler that throws gets a 500 with
 * {"detail":{"error":"internal server error"}} (the exception's text is not sent), and the
 * reason goes to the reply's `log_detail` for the caller's one log line. Never throws but for
 * std::bad_alloc while building that answer.
 */
http_reply dispatch(server_context& ctx, const http_request& req);

/**
 * The matching route's before_body check on @p head (a request whose body is not read yet):
 * its refusal, or nullopt (no check, no route, or the check passed). Same exception boundary
 * as dispatch().
 */
std::optional<http_reply> check_before_body(server_context& ctx, const http_request& head);

}  // namespace pdl::server
