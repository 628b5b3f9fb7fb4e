#pragma once
// Plain request/response types between the Beast connection code and the route handlers, so
// handlers (and their tests) never see Beast.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pdl::server {

/** One parsed HTTP request. `authorization` is a secret: it is never logged. */
struct http_request {
  std::string method;         // "GET", "POST", ...
  std::string target;         // as sent: path + "?" + query
  std::string path;           // target without the query
  std::string query;          // after '?', raw
  std::string authorization;  // the Authorization header value ("" when absent)
  std::string body;
  std::string peer;           // "ip:port", for logs
};

/** The answer a handler builds. Bodies are JSON unless a handler sets another content type. */
struct http_reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides content-type/length
  std::string content_type = "application/json";
  /** Why, for the connection's log line about this answer (never sent): e.g. the exception a
   *  handler threw (Envoy's "response code details"). */
  std::string log_detail;

  static http_reply json(int status, std::string body) {
    http_reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

/** {"detail":{"error": message}} (OPAL's error shape for auth and state errors). */
std::string error_detail(std::string_view message);

}  // namespace pdl::server
