#pragma once
// Plain request/response types between the Beast connection code and the route handlers, so
// handlers (and their tests) never see Beast.
#include <cstdint>
#include <memory>
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

/** An open file a reply's body is read from (a blob): the connection reads it in chunks on the
 *  server's read pool, never on its I/O thread. Closes the descriptor when the last owner goes;
 *  a file removed meanwhile stays readable through it. */
class reply_file {
 public:
  reply_file(int fd, std::uint64_t size) noexcept : fd_(fd), size_(size) {}
  ~reply_file();
  reply_file(const reply_file&) = delete;
  reply_file& operator=(const reply_file&) = delete;
  int fd() const noexcept { return fd_; }
  std::uint64_t size() const noexcept { return size_; }

 private:
  int fd_;
  std::uint64_t size_;
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
  /** When set, the body is this file's bytes (Content-Length: its size) and `body` is unused. */
  std::shared_ptr<const reply_file> file;

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
