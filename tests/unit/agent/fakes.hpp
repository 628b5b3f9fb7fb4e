#pragma once
// Fakes for the agent's seams (data_fetcher, policy_store, update_feed), thread-safe where the
// real ones are called from worker threads.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "agent/data_fetcher.hpp"
#include "agent/policy_store.hpp"
#include "agent/update_feed.hpp"
#include "shared/model/json_validator.hpp"

namespace pdl::agent::test {

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/** A one-shot gate a worker can wait on (with a deadline, never forever). */
class gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  /** True when opened before @p timeout passed. */
  bool wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct recorded_write {
  std::string method;  // PUT / PATCH
  std::string path;
  std::string body;
};

class fake_store final : public policy_store {
 public:
  void put(std::string_view path, const store_body& body) override { write("PUT", path, body); }
  void patch(std::string_view path, const store_body& body) override {
    write("PATCH", path, body);
  }
  bool health() override { return healthy.load(); }
  /** The last PUT body at exactly @p path (no tree semantics: enough for the marker). */
  std::optional<std::string> get(std::string_view path) override {
    if (!healthy.load()) {
      throw store_error("policy store unreachable: connection refused");
    }
    std::lock_guard lock(mu_);
    auto it = docs_.find(std::string(path));
    if (it == docs_.end()) {
      return std::nullopt;
    }
    return it->second;
  }
  /** Forgets every document, as an engine restarted empty (recorded writes stay). */
  void wipe() {
    std::lock_guard lock(mu_);
    docs_.clear();
  }
  /** Recorded writes to @p path. */
  std::vector<recorded_write> writes_to(const std::string& path) {
    std::lock_guard lock(mu_);
    std::vector<recorded_write> out;
    for (const auto& w : writes_) {
      if (w.path == path) {
        out.push_back(w);
      }
    }
    return out;
  }
  /** Writes to @p path fail with @p status this many more times (then succeed). */
  void fail_times(const std::string& path, long status, int times) {
    std::lock_guard lock(mu_);
    fail_times_[path] = {status, times};
  }
  int attempts(const std::string& path) {
    std::lock_guard lock(mu_);
    return attempts_[path];
  }
  void clear_writes() {
    std::lock_guard lock(mu_);
    writes_.clear();
  }

  std::vector<recorded_write> writes() {
    std::lock_guard lock(mu_);
    return writes_;
  }
  std::vector<std::string> started() {
    std::lock_guard lock(mu_);
    return started_;
  }
  int max_in_flight() const { return max_in_flight_.load(); }
  /** Writes to @p path fail with @p status (0: the engine is unreachable) until cleared. */
  void fail_path(const std::string& path, long status) {
    std::lock_guard lock(mu_);
    failing_[path] = status;
  }
  void clear_failures() {
    std::lock_guard lock(mu_);
    failing_.clear();
  }
  /** Runs inside the write (on the worker thread), before it is recorded. */
  std::function<void(const std::string& path)> on_write;

  std::atomic<bool> healthy{true};

 private:
  void write(const char* method, std::string_view path_view, const store_body& body) {
    const std::string path(path_view);
    const int now = ++in_flight_;
    int prev = max_in_flight_.load();
    while (now > prev && !max_in_flight_.compare_exchange_weak(prev, now)) {
    }
    {
      std::lock_guard lock(mu_);
      started_.push_back(path);
    }
    if (on_write) {
      on_write(path);
    }
    std::string text = body.is_file() ? read_all(body.file_path) : std::string(body.text);
    long status = 0;
    bool fail = false;
    {
      std::lock_guard lock(mu_);
      ++attempts_[path];
      if (auto it = failing_.find(path); it != failing_.end()) {
        status = it->second;
        fail = true;
      } else if (auto ft = fail_times_.find(path); ft != fail_times_.end() && ft->second.second > 0) {
        status = ft->second.first;
        fail = true;
        --ft->second.second;
      } else {
        if (std::string(method) == "PUT") {
          docs_[path] = text;
        }
        writes_.push_back({method, path, std::move(text)});
      }
    }
    --in_flight_;
    if (fail && status == 0) {
      throw store_error("policy store unreachable: connection refused", 0);
    }
    if (fail) {
      throw store_error("policy store answered HTTP " + std::to_string(status) + ": refused",
                        status);
    }
  }

  std::mutex mu_;
  std::vector<recorded_write> writes_;
  std::vector<std::string> started_;
  std::map<std::string, long> failing_;
  std::map<std::string, std::pair<long, int>> fail_times_;
  std::map<std::string, int> attempts_;
  std::map<std::string, std::string> docs_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
};

/** Runs one fetch to its end on the calling thread's behalf (tests of fetchers): the document, or
 *  the fetch's exception rethrown. */
inline fetched_body fetch_sync(data_fetcher& fetcher, const model::data_source_entry& entry) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  fetched_body out;
  std::exception_ptr failure;
  fetcher.fetch(entry, [&](fetched_body body, std::exception_ptr error) {
    std::lock_guard lock(mu);
    out = std::move(body);
    failure = error;
    finished = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return finished; });
  if (failure) {
    std::rethrow_exception(failure);
  }
  return out;
}

/** A data_fetcher whose fetches are blocking functions (fetch_now), each run on a thread of its
 *  own pool, so a fetch a test holds up does not hold up the caller. */
class blocking_fetcher : public data_fetcher {
 public:
  ~blocking_fetcher() override { pool_.join(); }
  void fetch(const model::data_source_entry& entry, fetch_done done) override {
    boost::asio::post(pool_, [this, entry, done = std::move(done)] {
      fetched_body body;
      try {
        body = fetch_now(entry);
      } catch (...) {
        done({}, std::current_exception());
        return;
      }
      done(std::move(body), nullptr);
    });
  }
  virtual fetched_body fetch_now(const model::data_source_entry& entry) = 0;

 private:
  boost::asio::thread_pool pool_{16};
};

class fake_fetcher final : public blocking_fetcher {
 public:
  ~fake_fetcher() override = default;
  fetched_body fetch_now(const model::data_source_entry& entry) override {
    std::string body;
    {
      std::lock_guard lock(mu_);
      ++calls_;
      if (auto f = failures_.find(entry.url); f != failures_.end() && f->second.second > 0) {
        --f->second.second;
        const long status = f->second.first;
        throw fetch_error("source " + entry.url + " answered HTTP " + std::to_string(status),
                          status >= 400 && status < 500, status);
      }
      auto it = sources_.find(entry.url);
      if (it == sources_.end()) {
        throw fetch_error("source " + entry.url + " answered HTTP 404", true, 404);
      }
      body = it->second;
    }
    if (before_fetch) {
      before_fetch(entry.url);
    }
    fetched_body out;
    out.file = temp_file::create("", "test");
    std::ofstream(out.file.path(), std::ios::binary) << body;
    out.size = body.size();
    std::optional<model::json_type> root;
    const auto err = model::validate_json(body, &root);
    if (!err.empty()) {
      throw fetch_error("invalid JSON from " + entry.url + ": " + err, true);
    }
    out.root = *root;
    return out;
  }
  void set(const std::string& url, std::string body) {
    std::lock_guard lock(mu_);
    sources_[url] = std::move(body);
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  /** The next @p times fetches of @p url fail with HTTP @p status (4xx permanent). */
  void fail_times(const std::string& url, long status, int times) {
    std::lock_guard lock(mu_);
    failures_[url] = {status, times};
  }
  std::function<void(const std::string& url)> before_fetch;

 private:
  std::mutex mu_;
  std::map<std::string, std::string> sources_;
  std::map<std::string, std::pair<long, int>> failures_;
  int calls_ = 0;
};

/** A feed driven by the test: it calls the handlers itself (on the io_context thread). */
class fake_feed final : public update_feed {
 public:
  explicit fake_feed(bool* started = nullptr) : started_flag_(started) {}
  void start(feed_handlers h) override {
    handlers = std::move(h);
    started = true;
    if (started_flag_ != nullptr) {
      *started_flag_ = true;
    }
  }
  void stop() override { stopped = true; }
  void acknowledge(applied_ack ack) override { acks.push_back(std::move(ack)); }
  void reconnect() override { ++reconnects; }
  void pause(bool on) override {
    paused = on;
    pause_calls += on ? 1 : 0;
  }
  bool paused = false;
  int pause_calls = 0;
  feed_handlers handlers;
  bool started = false;
  bool stopped = false;
  std::vector<applied_ack> acks;
  int reconnects = 0;

 private:
  bool* started_flag_;
};

}  // namespace pdl::agent::test
