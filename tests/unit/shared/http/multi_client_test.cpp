#include "shared/http/multi_client.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/shared/http/threaded_server.hpp"

namespace pdl::http_client {
namespace {

using ::testing::HasSubstr;
using pdl::test::threaded_server;
using namespace std::chrono_literals;
using result = std::variant<response, transport_error>;

/** Waits for @p done with a deadline (no timing assertion: a missed deadline is a failure). */
template <class Pred>
bool poll_until(Pred done, std::chrono::milliseconds deadline = 20s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/** Collects completions from the client's thread. */
class outcomes {
 public:
  multi_client::completion add(std::string name) {
    return [this, name](result r, std::exception_ptr e) {
      std::lock_guard lock(mu_);
      done_.emplace_back(name, std::move(r), e);
    };
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return done_.size();
  }
  bool has(const std::string& name) {
    std::lock_guard lock(mu_);
    for (auto& d : done_) {
      if (std::get<0>(d) == name) {
        return true;
      }
    }
    return false;
  }
  std::tuple<std::string, result, std::exception_ptr> get(const std::string& name) {
    std::lock_guard lock(mu_);
    for (auto& d : done_) {
      if (std::get<0>(d) == name) {
        return d;
      }
    }
    throw std::runtime_error("no completion named " + name);
  }
  std::vector<std::tuple<std::string, result, std::exception_ptr>> all() {
    std::lock_guard lock(mu_);
    return done_;
  }

 private:
  std::mutex mu_;
  std::vector<std::tuple<std::string, result, std::exception_ptr>> done_;
};

/** Headers announcing 1000 bytes, then one byte every 100 ms until the client or the server
 *  goes: never idle, never done. */
bool trickle(const threaded_server& s, int fd) {
  threaded_server::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
  for (int i = 0; i < 1000 && !s.stopping(); ++i) {
    std::this_thread::sleep_for(100ms);
    if (::send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
      return false;
    }
  }
  return false;
}

request get(const std::string& url) {
  request req;
  req.url = url;
  req.total_timeout = 0ms;
  req.idle_timeout = 60s;
  return req;
}

TEST(MultiClient, GetsAResponseThroughTheSink) {
  threaded_server server([](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(200, R"({"a":1})"));
    return true;
  });
  outcomes out;
  std::string body;
  long sink_status = 0;
  {
    multi_client client;
    client.start(get(server.url("/doc")),
                 [&](long status, std::string_view chunk) {
                   sink_status = status;
                   body.append(chunk);
                   return true;
                 },
                 out.add("doc"));
    ASSERT_TRUE(poll_until([&] { return out.count() == 1; }));
    EXPECT_EQ(client.active(), 0u);
  }
  auto [name, r, error] = out.get("doc");
  EXPECT_FALSE(error);
  ASSERT_TRUE(std::holds_alternative<response>(r)) << std::get<transport_error>(r).message;
  EXPECT_EQ(std::get<response>(r).status, 200);
  EXPECT_EQ(sink_status, 200);
  EXPECT_EQ(body, R"({"a":1})");
}

TEST(MultiClient, TricklingSourcesDoNotHoldUpAnotherTransfer) {
  threaded_server* self = nullptr;
  threaded_server trickling([&self](int fd, const std::string&) { return trickle(*self, fd); });
  self = &trickling;
  threaded_server fast([](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(200, "[]"));
    return true;
  });
  outcomes out;
  {
    multi_options options;
    options.max_host_connections = 0;  // all eight at once
    multi_client client(options);
    for (int i = 0; i < 8; ++i) {
      client.start(get(trickling.url("/slow/" + std::to_string(i))), {},
                   out.add("slow" + std::to_string(i)));
    }
    ASSERT_TRUE(poll_until([&] { return trickling.open() == 8; }));
    client.start(get(fast.url("/fast")), {}, out.add("fast"));
    ASSERT_TRUE(poll_until([&] { return out.has("fast"); }));
    auto [name, r, error] = out.get("fast");
    ASSERT_TRUE(std::holds_alternative<response>(r)) << std::get<transport_error>(r).message;
    EXPECT_EQ(std::get<response>(r).body, "[]");
    // The slow ones are all still running: the fast one overtook them, it did not wait.
    EXPECT_EQ(out.count(), 1u);
    EXPECT_EQ(client.active(), 8u);
    EXPECT_EQ(trickling.open(), 8);
  }
  // Destroying the client aborted the eight.
  ASSERT_EQ(out.count(), 9u);
  for (int i = 0; i < 8; ++i) {
    auto [name, r, error] = out.get("slow" + std::to_string(i));
    ASSERT_TRUE(std::holds_alternative<transport_error>(r));
    EXPECT_EQ(std::get<transport_error>(r).what, transport_error::code::aborted);
  }
}

TEST(MultiClient, AtMostMaxHostConnectionsToOneHost) {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  threaded_server gated([&](int fd, const std::string&) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return released; });
    threaded_server::write_all(fd, threaded_server::response(200, "1"));
    return true;
  });
  threaded_server other([](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(200, "2"));
    return true;
  });
  outcomes out;
  multi_options options;
  options.max_host_connections = 2;
  multi_client client(options);
  for (int i = 0; i < 5; ++i) {
    client.start(get(gated.url("/g")), {}, out.add("g" + std::to_string(i)));
  }
  ASSERT_TRUE(poll_until([&] { return gated.open() == 2; }));
  // Another host is not queued behind them; by the time it answered, libcurl had every chance
  // to open a third connection to the first.
  client.start(get(other.url("/o")), {}, out.add("other"));
  ASSERT_TRUE(poll_until([&] { return out.has("other"); }));
  EXPECT_EQ(gated.accepted(), 2);
  {
    std::lock_guard lock(mu);
    released = true;
  }
  cv.notify_all();
  ASSERT_TRUE(poll_until([&] { return out.count() == 6; }));
  for (auto& [name, r, error] : out.all()) {
    ASSERT_TRUE(std::holds_alternative<response>(r)) << name;
    EXPECT_EQ(std::get<response>(r).status, 200) << name;
  }
  EXPECT_LE(gated.most_open(), 2);
  EXPECT_EQ(gated.requests(), 5);
}

TEST(MultiClient, ReusesAKeptAliveConnection) {
  threaded_server server([](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(200, "ok"));
    return true;
  });
  outcomes out;
  multi_client client;
  for (int i = 0; i < 3; ++i) {
    client.start(get(server.url("/r")), {}, out.add("r" + std::to_string(i)));
    ASSERT_TRUE(poll_until([&] { return out.count() == static_cast<std::size_t>(i + 1); }));
  }
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(MultiClient, ManyTransfersAllComplete) {
  threaded_server server([](int fd, const std::string& req) {
    const auto start = req.find(' ') + 1;
    const std::string target = req.substr(start, req.find(' ', start) - start);
    threaded_server::write_all(fd, threaded_server::response(200, target));
    return true;
  });
  outcomes out;
  multi_client client;
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) {
    client.start(get(server.url("/n/" + std::to_string(i))), {}, out.add(std::to_string(i)));
  }
  ASSERT_TRUE(poll_until([&] { return out.count() == n; }, 60s));
  for (int i = 0; i < n; ++i) {
    auto [name, r, error] = out.get(std::to_string(i));
    ASSERT_TRUE(std::holds_alternative<response>(r)) << std::get<transport_error>(r).message;
    EXPECT_EQ(std::get<response>(r).body, "/n/" + std::to_string(i));
  }
  EXPECT_LE(server.most_open(), 6);  // the default per-host limit
}

TEST(MultiClient, FollowsRedirectsCheckingEveryHop) {
  threaded_server target([](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(200, "landed"));
    return true;
  });
  const std::string to = target.url("/final");
  threaded_server bouncer([to](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(302, "", false, "Location: " + to +
                                                                               "\r\n"));
    return true;
  });
  outcomes out;
  multi_client client;
  std::vector<std::string> seen;  // only touched on the client's thread until completion
  request req = get(bouncer.url("/start"));
  req.max_redirects = 3;
  req.headers.emplace_back("Authorization", secret("Bearer s3cret"));
  req.allow_url = [&seen](std::string_view url, std::string*) {
    seen.emplace_back(url);
    return true;
  };
  client.start(req, {}, out.add("ok"));
  ASSERT_TRUE(poll_until([&] { return out.has("ok"); }));
  auto [n1, r1, e1] = out.get("ok");
  ASSERT_TRUE(std::holds_alternative<response>(r1)) << std::get<transport_error>(r1).message;
  EXPECT_EQ(std::get<response>(r1).body, "landed");
  EXPECT_EQ(seen, (std::vector<std::string>{bouncer.url("/start"), to}));

  req.allow_url = [to](std::string_view url, std::string* why) {
    *why = "not that one";
    return url != to;
  };
  client.start(req, {}, out.add("refused"));
  ASSERT_TRUE(poll_until([&] { return out.has("refused"); }));
  auto [n2, r2, e2] = out.get("refused");
  ASSERT_TRUE(std::holds_alternative<transport_error>(r2));
  EXPECT_EQ(std::get<transport_error>(r2).what, transport_error::code::refused);
  EXPECT_THAT(std::get<transport_error>(r2).message, HasSubstr("redirect refused: not that one"));
  EXPECT_EQ(target.requests(), 1);
}

TEST(MultiClient, AThrowingSinkEndsOnlyItsTransfer) {
  threaded_server server([](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(200, "body"));
    return true;
  });
  outcomes out;
  multi_client client;
  client.start(get(server.url("/a")),
               [](long, std::string_view) -> bool { throw std::runtime_error("sink broke"); },
               out.add("throws"));
  client.start(get(server.url("/b")), {}, out.add("fine"));
  ASSERT_TRUE(poll_until([&] { return out.count() == 2; }));
  auto [n1, r1, e1] = out.get("throws");
  ASSERT_TRUE(e1);
  EXPECT_THROW(std::rethrow_exception(e1), std::runtime_error);
  auto [n2, r2, e2] = out.get("fine");
  EXPECT_FALSE(e2);
  ASSERT_TRUE(std::holds_alternative<response>(r2));
  EXPECT_EQ(std::get<response>(r2).body, "body");
}

TEST(MultiClient, TimeoutsEndTransfers) {
  threaded_server* self = nullptr;
  threaded_server server([&self](int fd, const std::string&) { return trickle(*self, fd); });
  self = &server;
  outcomes out;
  multi_client client;
  request req = get(server.url("/t"));
  req.total_timeout = 500ms;
  client.start(req, {}, out.add("total"));
  ASSERT_TRUE(poll_until([&] { return out.count() == 1; }));
  auto [n, r, e] = out.get("total");
  ASSERT_TRUE(std::holds_alternative<transport_error>(r));
  EXPECT_EQ(std::get<transport_error>(r).what, transport_error::code::timeout);
  EXPECT_THAT(std::get<transport_error>(r).message, HasSubstr("total"));
}

TEST(ConnectionPool, BlockingRequestsReuseAPooledConnection) {
  threaded_server server([](int fd, const std::string&) {
    threaded_server::write_all(fd, threaded_server::response(200, "ok"));
    return true;
  });
  request req = get(server.url("/p"));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::holds_alternative<response>(perform(req)));
  }
  EXPECT_EQ(server.accepted(), 3);  // without a pool: a connection each
  req.connections = std::make_shared<connection_pool>();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::holds_alternative<response>(perform(req)));
  }
  EXPECT_EQ(server.accepted(), 4);
  EXPECT_EQ(server.requests(), 6);
}

}  // namespace
}  // namespace pdl::http_client

namespace pdl::http_client {
namespace {

TEST(MultiClient, TheIdleTimeoutEndsATransferNothingMovesOn) {
  // Accepted, request read, never answered: no socket event, no libcurl deadline but ours.
  pdl::test::threaded_server server([](int fd, const std::string&) {
    char buf[64];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    return false;
  });
  outcomes out;
  multi_client client;
  request req = get(server.url("/silent"));
  req.connect_timeout = 200ms;  // libcurl's only timer for it, long gone when idle ends
  req.idle_timeout = 600ms;
  req.total_timeout = 0ms;  // nothing else would end it
  client.start(req, {}, out.add("silent"));
  ASSERT_TRUE(poll_until([&] { return out.count() == 1; }, 20s));
  auto [n, r, e] = out.get("silent");
  ASSERT_TRUE(std::holds_alternative<transport_error>(r));
  EXPECT_EQ(std::get<transport_error>(r).what, transport_error::code::timeout);
  EXPECT_THAT(std::get<transport_error>(r).message, HasSubstr("nothing sent or received"));
  EXPECT_EQ(client.active(), 0u);
}

}  // namespace
}  // namespace pdl::http_client
