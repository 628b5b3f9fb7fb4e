#pragma once
// Plain request and response values passed between the fakes' HTTP server and their handlers,
// so handlers stay free of Beast and can be exercised directly.
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pdl::fakes {

struct http_request {
  std::string method;  // "GET"
  std::string target;  // the raw request-target, "/v1/data/a%2Fb?pretty"
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;

  /** The first header named @p name (case-insensitive), or nullptr. */
  const std::string* header(std::string_view name) const;
  /** The raw (still percent-encoded) path: target up to the first '?'. */
  std::string_view path() const;
  /** The raw query after the first '?'; has_query() tells "/x?" from "/x". */
  std::string_view query() const;
  bool has_query() const;
};

struct http_response {
  int status = 200;
  std::string content_type;  // empty: no Content-Type header
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Location, ...)
  /** Never answer: the server keeps the connection open, unanswered, until the client leaves. */
  bool hang = false;
  /** > 0: the head at once, then the body one byte at a time with this gap (a trickling
   *  source: never idle, slow to finish). */
  std::chrono::milliseconds trickle{0};
  /** Close the connection after this response. */
  bool close = false;
};

/** ASCII case-insensitive equality (header names, tokens). */
bool iequals(std::string_view a, std::string_view b);

}  // namespace pdl::fakes
