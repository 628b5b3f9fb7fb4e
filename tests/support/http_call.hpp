#pragma once
// One HTTP request from a test to a process under test, answered or not.
#include <string>

namespace pdl::test {

struct http_answer {
  long status = 0;  // 0: no answer (connection refused, timeout)
  std::string body;
};

/** @p token goes as `Authorization: Bearer`; a non-empty @p body as application/json. */
http_answer http_call(const std::string& method, const std::string& url,
                      const std::string& token = "", const std::string& body = "");

/** @p s for a URL's query: every byte but A-Z a-z 0-9 - . _ ~ as %XX (RFC 3986). */
std::string percent_encode(const std::string& s);

/** The last non-empty line of a command's output (a token printed by obtain-token). */
std::string last_line(std::string s);

}  // namespace pdl::test
