#pragma once
// Test helper: a tiny_server playing a pdl server for publish + delivery status. POSTs get
// @p publish_answer; GETs get the scripted answers in order, the last one repeated.
#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/shared/http/tiny_server.hpp"

namespace pdl::test {

struct scripted_answer {
  int status;
  std::string body;
};

class delivery_server {
 public:
  delivery_server(std::string publish_answer, std::vector<scripted_answer> gets)
      : publish_answer_(std::move(publish_answer)),
        gets_(std::move(gets)),
        server_([this](int fd, const std::string& req) { answer(fd, req); }) {}

  std::string url() const { return server_.url(""); }
  std::vector<std::string> requests() const { return server_.requests(); }
  int get_count() const { return get_count_.load(); }

  /** A status body in the documented shape. */
  static std::string status_body(const std::string& id, bool complete,
                                 const std::string& agents_json) {
    return R"({"id":")" + id + R"(","seq":1,"topics":["users","billing"],)" +
           R"("accepted_at":"2026-11-28T10:00:00Z","complete":)" +
           (complete ? "true" : "false") + R"(,"agents":)" + agents_json + "}";
  }

 private:
  void answer(int fd, const std::string& req) {
    if (req.rfind("POST ", 0) == 0) {
      tiny_server::write_all(fd, tiny_server::response(200, publish_answer_));
      return;
    }
    const auto n = static_cast<std::size_t>(get_count_++);
    const auto& a = gets_.at(std::min(n, gets_.size() - 1));
    tiny_server::write_all(fd, tiny_server::response(a.status, a.body));
  }

  std::string publish_answer_;
  std::vector<scripted_answer> gets_;
  std::atomic<int> get_count_{0};
  tiny_server server_;  // last: its thread uses the members above
};

}  // namespace pdl::test
