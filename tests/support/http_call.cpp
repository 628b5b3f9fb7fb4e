#include "tests/support/http_call.hpp"

#include <cctype>

#include "shared/http/client.hpp"

namespace pdl::test {

http_answer http_call(const std::string& method, const std::string& url, const std::string& token,
                      const std::string& body) {
  http_client::request req;
  req.method = method;
  req.url = url;
  if (!token.empty()) req.headers.emplace_back("Authorization", secret("Bearer " + token));
  if (!body.empty()) {
    req.headers.emplace_back("Content-Type", secret("application/json"));
    req.body = body;
  }
  req.connect_timeout = std::chrono::milliseconds(2000);
  req.idle_timeout = std::chrono::milliseconds(10000);
  auto r = http_client::perform(req);
  if (auto* ok = std::get_if<http_client::response>(&r)) return {ok->status, ok->body};
  return {};
}

std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  const auto nl = s.find_last_of('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

std::string percent_encode(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace pdl::test
