#include "server/blobs/base_refresh.hpp"

#include <future>

#include <fmt/format.h>

#include "server/blobs/blob_urls.hpp"
#include "shared/auth/sha256.hpp"
#include "shared/http/url.hpp"
#include "shared/log/log.hpp"

namespace pdl::server::blobs {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.blobs");
  return l;
}

}  // namespace

base_refresher::base_refresher(std::vector<model::data_source_entry> entries,
                               model::fetched_by fallback, source_fetcher& fetcher,
                               blob_store& store, redis_blobs* shared, base_refresh_hooks hooks)
    : entries_(std::move(entries)),
      fetcher_(fetcher),
      store_(store),
      shared_(shared),
      hooks_(std::move(hooks)),
      current_(entries_.size()) {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& e = entries_[i];
    if (e.data_json || e.url.empty() ||
        e.fetched_by.value_or(fallback) != model::fetched_by::server) {
      continue;
    }
    tracked t;
    t.index = i;
    t.name = http_client::redact_url(e.url);
    t.lock_key = auth::sha256_hex(e.url + '\0' + e.dst_path).substr(0, 16);
    if (e.periodic_update_interval && *e.periodic_update_interval > 0) {
      t.every = std::chrono::seconds(
          std::max<long long>(1, static_cast<long long>(*e.periodic_update_interval)));
    }
    refreshed_.push_back(std::move(t));
  }
}

base_refresher::~base_refresher() { stop(); }

void base_refresher::start() {
  if (!active() || thread_.joinable()) {
    return;
  }
  thread_ = std::thread([this] { loop(); });
}

void base_refresher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string base_refresher::config_json() const {
  std::vector<model::data_source_entry> served;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const auto& e = entries_[i];
      const bool here = std::any_of(refreshed_.begin(), refreshed_.end(),
                                    [i](const tracked& t) { return t.index == i; });
      if (!here) {
        served.push_back(e);
        continue;
      }
      if (!current_[i]) {
        continue;  // not fetched yet: announced by an update once it is
      }
      model::data_source_entry r = e;
      point_at_blob(r, *current_[i], hooks_.signed_url(current_[i]->sha256));
      served.push_back(std::move(r));
    }
  }
  return model::data_source_config_to_json(served);
}

std::set<std::string> base_refresher::current_blobs() const {
  std::set<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& c : current_) {
    if (c) {
      out.insert(c->sha256);
    }
  }
  return out;
}

std::uint64_t base_refresher::unchanged() const {
  std::lock_guard lock(mu_);
  return unchanged_;
}

std::uint64_t base_refresher::published() const {
  std::lock_guard lock(mu_);
  return published_;
}

void base_refresher::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto next = std::chrono::steady_clock::time_point::max();
    const auto now = std::chrono::steady_clock::now();
    for (auto& t : refreshed_) {
      if (t.due <= now) {
        lock.unlock();
        try {
          refresh(t);
        } catch (const std::exception& e) {
          logger()->warn("base entry {}: refresh failed: {}", t.name, e.what());
          t.due = std::chrono::steady_clock::now() + (t.every.count() > 0 ? t.every : t.retry);
        }
        lock.lock();
        if (stopping_) {
          return;
        }
      }
      next = std::min(next, t.due);
    }
    cv_.wait_until(lock, next, [this] { return stopping_; });
  }
}

void base_refresher::adopt(tracked& t, const model::blob_ref& ref, bool publish) {
  t.current = ref;
  {
    std::lock_guard lock(mu_);
    current_[t.index] = ref;
  }
  if (!publish) {
    return;
  }
  model::data_update u;
  model::data_source_entry e = entries_[t.index];
  point_at_blob(e, ref, hooks_.signed_url(ref.sha256));
  u.entries.push_back(std::move(e));
  u.reason = fmt::format("base entry {} changed (fetched by the server)", t.name);
  const int status = hooks_.publish(std::move(u));
  if (status == 200) {
    std::lock_guard lock(mu_);
    ++published_;
  }
  logger()->info("base entry {}: new document, blob {} ({} bytes){}", t.name, ref.sha256,
                 ref.size, status == 200 ? ", published" : fmt::format(", NOT published ({})", status));
}

void base_refresher::refresh(tracked& t) {
  const auto started = std::chrono::steady_clock::now();
  const auto again = [&](bool ok) {
    if (t.every.count() > 0) {
      t.due = started + t.every;
    } else if (ok) {
      t.due = std::chrono::steady_clock::time_point::max();  // once
    } else {
      t.due = started + t.retry;
      t.retry = std::min<std::chrono::seconds>(t.retry * 2, std::chrono::seconds(300));
    }
  };
  if (shared_ != nullptr) {
    const auto hold = t.every.count() > 0 ? t.every : std::chrono::seconds(30);
    if (!shared_->try_lead(t.lock_key, hold - std::chrono::milliseconds(100))) {
      // Another replica fetches this round: serve what it recorded.
      if (auto ref = shared_->current(t.lock_key); ref && ref != t.current) {
        adopt(t, *ref, false);
      }
      t.due = started + (t.every.count() > 0 ? t.every : std::chrono::seconds(5));
      return;
    }
  }
  auto got = std::make_shared<std::promise<source_result>>();
  auto result = got->get_future();
  fetcher_.fetch(entries_[t.index], t.known,
                 [got](source_result r) { got->set_value(std::move(r)); });
  // A slow source must not hold up stop(): the fetch finishes (or is aborted) on its own.
  while (result.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    std::lock_guard lock(mu_);
    if (stopping_) {
      return;
    }
  }
  source_result r = result.get();
  if (r.failure) {
    logger()->warn("base entry {}: {} (the last good document stays served)", t.name,
                   r.failure->message);
    again(false);
    return;
  }
  if (r.not_modified) {
    std::lock_guard lock(mu_);
    ++unchanged_;
    again(true);
    return;
  }
  t.known = r.seen;
  const model::blob_ref ref = r.blob->commit();
  if (t.current && *t.current == ref) {
    {
      std::lock_guard lock(mu_);
      ++unchanged_;
    }
    again(true);
    return;
  }
  if (shared_ != nullptr) {
    shared_->put(ref, *store_.find(ref.sha256));
    shared_->set_current(t.lock_key, ref);
  }
  adopt(t, ref, true);
  t.retry = std::chrono::seconds(5);
  again(true);
}

}  // namespace pdl::server::blobs
