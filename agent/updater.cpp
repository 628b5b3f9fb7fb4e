#include "agent/updater.hpp"

#include <algorithm>

#include "agent/backoff.hpp"
#include "shared/auth/sha256.hpp"
#include "agent/supervisor.hpp"
#include "agent/topic_filter.hpp"
#include "shared/http/client.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"
#include "shared/model/paths.hpp"
#include "shared/net/offload.hpp"

namespace pdl::agent {
namespace {

// How far pump() looks past blocked entries for an independent one to start. Bounds the cost of
// a long queue on one hot path; entries further back wait for the next pump.
constexpr std::size_t scan_window = 256;

// Memory one queued entry costs beyond its strings (task, path, bookkeeping), for queued_bytes().
constexpr std::size_t entry_overhead_bytes = 512;

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("agent.updater");
  return l;
}

bool text_is_object(std::string_view json) {
  const auto first = json.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && json[first] == '{';
}

const char* json_type_name(model::json_type t) {
  switch (t) {
    case model::json_type::object: return "an object";
    case model::json_type::array: return "an array";
    case model::json_type::string: return "a string";
    case model::json_type::number: return "a number";
    case model::json_type::boolean: return "a boolean";
    case model::json_type::null: return "null";
  }
  return "a non-object";
}

std::string display_path(const std::string& p) { return p.empty() ? "/" : p; }

// Thrown for entries refused before they reach the engine (recorded like a fetch failure).
struct refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** Worth retrying: the engine was not reached, failed, or asked us to slow down. A 4xx says the
 *  request itself is wrong (OPA's 400 invalid_parameter, 404 on a missing PATCH target). */
bool transient_store_error(const store_error& e) {
  const long s = e.http_status();
  return s == 0 || s >= 500 || s == 408 || s == 429;
}

/** The `reason` label of a failed entry (agent_metrics.hpp). */
failure_reason classify(const std::exception& ex) {
  if (dynamic_cast<const secret_error*>(&ex) != nullptr) {
    return failure_reason::secret_missing;
  }
  if (dynamic_cast<const blob_mismatch_error*>(&ex) != nullptr) {
    return failure_reason::blob_mismatch;
  }
  if (const auto* fe = dynamic_cast<const fetch_error*>(&ex)) {
    if (fe->refused()) {
      return failure_reason::source_refused;
    }
    if (fe->timed_out() || fe->http_status() == 408) {
      return failure_reason::timeout;
    }
    if (fe->http_status() != 0) {
      return failure_reason::source_status;
    }
    return fe->permanent() ? failure_reason::invalid_payload : failure_reason::fetch;
  }
  if (const auto* se = dynamic_cast<const store_error*>(&ex)) {
    const long s = se->http_status();
    if (se->timed_out() || s == 408) {
      return failure_reason::timeout;
    }
    return s >= 400 && s < 500 && s != 429 ? failure_reason::store_refused
                                           : failure_reason::store;
  }
  if (dynamic_cast<const refused*>(&ex) != nullptr) {
    return failure_reason::invalid_payload;
  }
  return failure_reason::other;
}

/** One fetch attempt, timed and counted: started on the fetcher (no worker thread waits for
 *  it), resumed on the coroutine's own executor with the document or the fetch's exception. */
net::awaitable<fetched_body> timed_fetch(data_fetcher& fetcher, const model::data_source_entry& e,
                                         agent_metrics* m) {
  using slot_t = std::optional<fetched_body>;
  const auto t0 = std::chrono::steady_clock::now();
  const auto seconds = [&t0] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  slot_t out;
  try {
    out = co_await net::async_initiate<decltype(net::use_awaitable),
                                       void(std::exception_ptr, slot_t)>(
        [&fetcher, &e](auto handler) {
          auto work = net::make_work_guard(handler);
          using state_t = std::pair<decltype(handler), decltype(work)>;
          auto state = std::make_shared<state_t>(std::move(handler), std::move(work));
          fetcher.fetch(e, [state](fetched_body body, std::exception_ptr error) {
            slot_t value;
            if (!error) {
              value.emplace(std::move(body));
            }
            auto ex = state->second.get_executor();
            net::post(ex, [state, error, value = std::move(value)]() mutable {
              state->first(error, std::move(value));
              state->second.reset();
            });
          });
        },
        net::use_awaitable);
  } catch (...) {
    if (m != nullptr) {
      m->observe_fetch(seconds());
    }
    throw;
  }
  if (m != nullptr) {
    m->observe_fetch(seconds());
    m->count_fetched_bytes(out->size);
  }
  co_return std::move(*out);
}

std::string retries_note(int attempts) {
  return attempts > 1 ? " (after " + std::to_string(attempts) + " attempts)" : std::string();
}

net::awaitable<void> sleep_for(net::steady_timer& timer, std::chrono::milliseconds delay) {
  timer.expires_after(delay);
  boost::system::error_code ec;  // cancelled = superseded or stopping: the caller checks
  co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
}

}  // namespace

struct updater::update_ctx {
  std::uint64_t serial = 0;  // key in updater::open_updates_
  std::optional<std::string> id;
  std::optional<std::uint64_t> seq;
  std::uint64_t seq_space = 0;  // updater::seq_space_ at submit: seqs of older spaces are ignored
  std::string reason;
  std::size_t remaining = 0;
  std::size_t bytes = 0;  // counted in updater::queued_bytes_ until completed
  update_outcome outcome;
  done_fn on_done;
};

struct updater::run_ctl {
  std::string path;
  bool superseded = false;
  std::shared_ptr<shadow_list> superseded_by;  // the newer PUT's shadow, when superseded
  std::optional<net::steady_timer> timer;  // the retry wait, cancelled when superseded
};

struct updater::impl {
  net::io_context& ioc;
  net::thread_pool& pool;
};

updater::updater(net::io_context& ioc, net::thread_pool& pool, data_fetcher& fetcher,
                 policy_store& store, agent_state& state, updater_options options)
    : impl_(std::make_unique<impl>(impl{ioc, pool})),
      state_(state),
      fetcher_(fetcher),
      store_(store),
      options_(std::move(options)) {
  options_.max_concurrency = std::max(1, options_.max_concurrency);
}

updater::~updater() = default;

namespace {
std::string dedupe_key(const model::data_update& update) {
  return *update.id + '#' + (update.seq ? std::to_string(*update.seq) : "-");
}
}  // namespace

bool updater::is_duplicate(const model::data_update& update) const {
  return update.id && recent_set_.count(dedupe_key(update)) != 0;
}

void updater::remember(const model::data_update& update) {
  if (!update.id) {
    return;
  }
  std::string key = dedupe_key(update);
  recent_ids_.push_back(key);
  recent_set_.insert(std::move(key));
  while (recent_ids_.size() > options_.dedupe_window) {
    recent_set_.erase(recent_ids_.front());
    recent_ids_.pop_front();
  }
}

submit_result updater::submit(model::data_update update, done_fn on_done) {
  if (stopped_) {
    return submit_result::stopped;
  }
  if (update.seq && watermark_ && *update.seq <= *watermark_) {
    state_.count_duplicate();
    SPDLOG_LOGGER_DEBUG(logger(), "update id={} seq={} already applied; skipped",
                        update.id.value_or(""), *update.seq);
    return submit_result::already_applied;
  }
  if (is_duplicate(update) ||
      (update.seq && (inflight_seqs_.count(*update.seq) != 0 ||
                      finished_seqs_.count(*update.seq) != 0))) {
    // By seq too: a replay after a reconnect may bring back updates that left the id window.
    state_.count_duplicate();
    SPDLOG_LOGGER_DEBUG(logger(), "duplicate update id={} ignored", update.id.value_or(""));
    return submit_result::duplicate;
  }
  auto ctx = std::make_shared<update_ctx>();
  ctx->id = update.id;
  ctx->seq = update.seq;
  ctx->seq_space = seq_space_;
  ctx->reason = update.reason.value_or("");
  ctx->on_done = std::move(on_done);

  std::vector<task> tasks;
  for (auto& entry : update.entries) {
    if (!entry_matches(entry, options_.topics)) {
      continue;
    }
    ctx->bytes += entry_bytes(entry);
    task t{ctx, std::move(entry), {}, next_order_++, {}, {}};
    try {
      t.path = model::normalize_dst_path(t.entry.dst_path);
      if (t.path == "/") {
        t.path.clear();
      }
    } catch (const model::invalid_input& e) {
      t.path = "\x01invalid";  // fails in start() without touching the store
    }
    tasks.push_back(std::move(t));
  }
  if (pending_.size() + tasks.size() > options_.max_pending_entries) {
    state_.count_update_dropped();
    if (ctx->seq) {
      // The watermark must not pass it: the server replays it after the caller's reconnect.
      overflowed_seqs_.insert(*ctx->seq);
    }
    SPDLOG_LOGGER_ERROR(logger(),
                        "update id={} dropped: {} entries already queued (limit {}); {}",
                        update.id.value_or(""), pending_.size(), options_.max_pending_entries,
                        ctx->seq ? "the server replays it after a reconnect"
                                 : "the next reconnect reloads the base data");
    return submit_result::overflow;
  }
  remember(update);
  state_.count_update_received();
  queued_bytes_ += ctx->bytes;
  ctx->serial = next_update_serial_++;
  open_updates_.emplace(ctx->serial, std::chrono::steady_clock::now());
  if (ctx->seq) {
    overflowed_seqs_.erase(*ctx->seq);
    inflight_seqs_.insert(*ctx->seq);
  }
  ctx->remaining = tasks.size();
  if (tasks.empty()) {
    // Nothing for us: done now, but never inline with the caller.
    net::post(impl_->ioc, [this, ctx] { complete_update(*ctx); });
    return submit_result::queued;
  }
  for (auto& t : tasks) {
    supersede_before(t);
    pending_.push_back(std::move(t));
  }
  net::post(impl_->ioc, [this] { pump(); });
  return submit_result::queued;
}

void updater::pump() {
  if (held_) {
    return;
  }
  std::vector<const std::string*> blocked;  // paths of earlier entries still waiting
  std::size_t scanned = 0;
  for (auto it = pending_.begin(); it != pending_.end() && scanned < scan_window;) {
    if (stopped_ || running_paths_.size() >= static_cast<std::size_t>(options_.max_concurrency)) {
      return;
    }
    const std::string& path = it->path;
    const auto overlaps = [&path](const std::string& other) {
      return model::paths_overlap(path, other);
    };
    const bool must_wait =
        std::any_of(running_paths_.begin(), running_paths_.end(), overlaps) ||
        std::any_of(blocked.begin(), blocked.end(), [&](const std::string* p) { return overlaps(*p); });
    if (must_wait) {
      blocked.push_back(&path);
      ++scanned;
      ++it;
      continue;
    }
    task t = std::move(*it);
    it = pending_.erase(it);
    // erase() invalidates the pointers in `blocked` only for erased elements; the deque erase
    // may invalidate all references, so rebuild the list from the untouched prefix.
    blocked.clear();
    for (auto j = pending_.begin(); j != it; ++j) {
      blocked.push_back(&j->path);
    }
    start(std::move(t));
  }
}

void updater::start(task t) {
  running_paths_.insert(t.path);
  t.ctl = std::make_shared<run_ctl>();
  t.ctl->path = t.path;
  t.ctl->timer.emplace(impl_->ioc);
  running_ctls_.push_back(t.ctl);
  const auto seed = options_.seed == 0 ? 0 : options_.seed + next_seed_++;
  auto run = [](updater* self, task t, std::uint64_t seed) -> net::awaitable<void> {
    std::string error;
    bool write_failure = false;
    bool superseded = false;  // while waiting to retry: set aside for a newer PUT
    bool intended = false;    // given up, kept by the observer as intended state
    bool maybe_written = false;  // the last write attempt timed out: it may have applied
    failure_reason reason = failure_reason::other;
    entry_report rep;
    const auto& e = t.entry;
    const bool is_put = e.method == model::save_method::put;
    const bool collect = self->options_.collect_reports;
    const int attempts = std::max(1, self->options_.retry_attempts);
    backoff delays(self->options_.retry_min, self->options_.retry_max, seed,
                   self->options_.retry_min);
    run_ctl& ctl = *t.ctl;
    try {
      if (t.path == "\x01invalid") {
        throw refused("invalid dst_path '" + e.dst_path + "'");
      }
      fetched_body body;
      if (e.data_json) {
        if (is_put && t.path.empty() && !text_is_object(*e.data_json)) {
          throw refused("refusing to PUT a non-object at the root of the policy store "
                        "(set a dst_path)");
        }
      } else {
        for (int attempt = 1;; ++attempt) {
          std::string transient;
          long transient_status = 0;
          bool transient_timeout = false;
          try {
            body = co_await timed_fetch(self->fetcher_, e, self->options_.metrics);
            break;
          } catch (const fetch_error& fe) {
            if (fe.permanent()) {
              throw;
            }
            transient = fe.what();
            transient_status = fe.http_status();
            transient_timeout = fe.timed_out();
          }
          if (ctl.superseded) {
            superseded = true;
            break;
          }
          if (attempt >= attempts) {
            throw fetch_error(transient + retries_note(attempts), false, transient_status,
                              transient_timeout);
          }
          const auto delay = delays.next();
          SPDLOG_LOGGER_DEBUG(logger(), "fetch for {} failed (attempt {}/{}): {}; retrying in "
                              "{} ms", display_path(t.path), attempt, attempts, transient,
                              delay.count());
          co_await sleep_for(*ctl.timer, delay);
          if (self->stopped_) {
            throw std::runtime_error("agent stopping: not retried");
          }
          if (ctl.superseded) {
            superseded = true;
            break;
          }
        }
        if (!superseded) {
          if (is_put && t.path.empty() && body.root != model::json_type::object) {
            throw refused(std::string("refusing to PUT ") + json_type_name(body.root) +
                          " at the root of the policy store (set a dst_path)");
          }
          if (!is_put && body.root != model::json_type::array) {
            throw refused(std::string("PATCH data must be a list of operations, the source "
                                      "returned ") + json_type_name(body.root));
          }
        }
      }
      rep.fetched = !superseded;
      delays.reset();
      for (int attempt = 1; !superseded; ++attempt) {
        std::string transient;
        long status = 0;
        bool timed_out = false;
        try {
          co_await offload(self->impl_->pool, [self, &t, &body, &rep, is_put, collect] {
            const auto sb = t.entry.data_json
                                ? store_body::from_text(*t.entry.data_json)
                                : store_body::from_file(body.file.path(), body.size);
            if (collect && rep.hash.empty()) {
              rep.hash = sb.is_file() ? auth::sha256_file_hex(sb.file_path) : auth::sha256_hex(sb.text);
            }
            if (self->options_.observer != nullptr) {
              self->options_.observer->before_write(t.path, is_put);  // nothing written yet
            }
            try {
              is_put ? self->store_.put(t.path, sb) : self->store_.patch(t.path, sb);
            } catch (const store_error& se) {
              // Refused PUTs are not reported: they replaced nothing, and journaling one would
              // erase the writes below its path from the backup.
              if (!is_put && !transient_store_error(se) && self->options_.observer != nullptr) {
                self->options_.observer->patch_refused(t.path, sb);
              }
              throw;
            }
            // The write succeeded: from here on nothing may send it back into the retry loop
            // (a retried PATCH would apply twice).
            if (self->options_.metrics != nullptr) {
              self->options_.metrics->count_written_bytes(sb.size);
            }
            if (self->options_.observer != nullptr) {
              try {
                self->options_.observer->written(t.path, is_put, sb, true);
              } catch (const std::exception& e) {
                SPDLOG_LOGGER_ERROR(logger(), "write observer failed after {} was written: {}",
                                    display_path(t.path), e.what());
              } catch (...) {
                SPDLOG_LOGGER_ERROR(logger(), "write observer failed after {} was written",
                                    display_path(t.path));
              }
            }
          });
          rep.saved = true;
          break;
        } catch (const store_error& se) {
          if (!transient_store_error(se)) {
            write_failure = true;
            throw;
          }
          transient = se.what();
          status = se.http_status();
          timed_out = se.timed_out();
          maybe_written = timed_out;
        }
        if (ctl.superseded) {
          superseded = true;
          break;
        }
        if (attempt >= attempts) {
          if (self->options_.observer != nullptr) {
            // Kept as intended state: rewritten once the engine is back (data_agent).
            co_await offload(self->impl_->pool, [self, &t, &body, is_put] {
              const auto sb = t.entry.data_json
                                  ? store_body::from_text(*t.entry.data_json)
                                  : store_body::from_file(body.file.path(), body.size);
              self->options_.observer->written(t.path, is_put, sb, false);
            });
            intended = true;
          }
          write_failure = true;
          throw store_error(transient + retries_note(attempts), status, timed_out);
        }
        const auto delay = delays.next();
        SPDLOG_LOGGER_DEBUG(logger(), "write of {} failed (attempt {}/{}): {}; retrying in {} ms",
                            display_path(t.path), attempt, attempts, transient, delay.count());
        co_await sleep_for(*ctl.timer, delay);
        if (self->stopped_) {
          throw std::runtime_error("agent stopping: not retried");
        }
        if (ctl.superseded) {
          superseded = true;
        }
      }
    } catch (const std::exception& ex) {
      error = ex.what();
      reason = classify(ex);
      if (error.empty()) {
        error = "unknown error";
      }
    } catch (...) {
      error = "unknown error";
    }
    // A write that timed out may have reached the engine: what it set aside cannot be put back
    // under it (it fails with it, as when the observer keeps it as intended state).
    const ending how = superseded && error.empty()    ? ending::deferred
                       : error.empty()                ? ending::applied
                       : intended || maybe_written    ? ending::intended
                                                      : ending::failed;
    self->finish(std::move(t), error, write_failure, how, std::move(rep), reason);
  };
  net::co_spawn(impl_->ioc, run(this, std::move(t), seed), [](std::exception_ptr ep) {
    if (ep) {
      SPDLOG_LOGGER_ERROR(logger(), "entry task failed unexpectedly: {}", describe(ep));
    }
  });
}

void updater::finish(task t, const std::string& error, bool write_failure, ending how,
                     entry_report report, failure_reason reason) {
  running_paths_.erase(running_paths_.find(t.path));
  running_ctls_.remove(t.ctl);
  auto ctl = std::move(t.ctl);
  auto& u = *t.update;
  const std::string dst = display_path(t.path == "\x01invalid" ? t.entry.dst_path : t.path);
  switch (how) {
    case ending::deferred:
      // Its newer PUT cannot start before this ends (their paths overlap), so its shadow is
      // still open: settled with the rest when that PUT's write ends.
      SPDLOG_LOGGER_INFO(logger(), "{} {} update id={} set aside for a newer PUT; not retried",
                         model::to_string(t.entry.method), dst, u.id.value_or(""));
      ctl->superseded_by->push_back(std::move(t));
      pump();
      return;
    case ending::applied:
      ++u.outcome.applied;
      state_.record_success(dst);
      if (options_.metrics != nullptr) {
        options_.metrics->source_success(source_label(t.entry));
      }
      // One line per applied entry: operators read the data path from these.
      SPDLOG_LOGGER_INFO(logger(), "applied {} {} update id={} seq={}",
                         model::to_string(t.entry.method), dst, u.id.value_or(""),
                         u.seq ? std::to_string(*u.seq) : std::string("-"));
      if (options_.collect_reports) {
        report.entry = t.entry;
        u.outcome.reports.push_back(std::move(report));
      }
      settle_shadow(t, true, {});
      break;
    case ending::intended:
    case ending::failed:
      record_failure(u, t, dst, error, reason, write_failure, std::move(report));
      if (how == ending::intended) {
        settle_shadow(t, false, "not written: the newer PUT of " + dst + " that replaces it "
                                "was not confirmed by the engine (" + error + ")");
      } else {
        settle_shadow(t, false, {});
      }
      break;
  }
  if (--u.remaining == 0) {
    complete_update(u);
  }
  pump();
}

void updater::record_failure(update_ctx& u, const task& t, const std::string& dst,
                             const std::string& error, failure_reason reason, bool write_failure,
                             entry_report report) {
  ++u.outcome.failed;
  u.outcome.ok = false;
  u.outcome.errors.push_back(dst + ": " + error);
  u.outcome.failure_reasons.push_back(reason);
  if (options_.metrics != nullptr) {
    options_.metrics->source_failure(source_label(t.entry), reason);
  }
  const std::string source =
      t.entry.data_json ? std::string("inline") : http_client::redact_url(t.entry.url);
  SPDLOG_LOGGER_ERROR(logger(), "entry {} {} failed (update id={} source={}): {}",
                      model::to_string(t.entry.method), dst, u.id.value_or(""), source, error);
  if (write_failure) {
    state_.record_write_failure(dst, error);
  } else {
    state_.record_fetch_failure(dst, error);
  }
  if (options_.collect_reports) {
    report.error = error;
    report.entry = t.entry;
    u.outcome.reports.push_back(std::move(report));
  }
}

void updater::settle_shadow(task& owner, bool applied, const std::string& error) {
  if (!owner.shadow || owner.shadow->empty()) {
    return;
  }
  shadow_list set_aside = std::move(*owner.shadow);
  owner.shadow.reset();
  if (!applied && error.empty()) {
    if (stopped_) {
      return;  // stop() dropped the queue: these go with it
    }
    // The newer PUT changed nothing: what it superseded goes back in place, in arrival order.
    // Everything queued that overlaps these paths arrived after that PUT (it could not start
    // before the earlier ones had finished), so each goes before the first later entry.
    std::sort(set_aside.begin(), set_aside.end(),
              [](const task& a, const task& b) { return a.order < b.order; });
    SPDLOG_LOGGER_INFO(logger(), "{} superseded entr{} put back: the newer PUT of {} failed",
                       set_aside.size(), set_aside.size() == 1 ? "y" : "ies",
                       display_path(owner.path));
    auto pos = pending_.begin();
    for (auto& t : set_aside) {
      pos = std::find_if(pos, pending_.end(), [&t](const task& q) { return q.order > t.order; });
      pos = pending_.insert(pos, std::move(t));
      ++pos;
    }
    return;
  }
  for (auto& t : set_aside) {
    auto& u = *t.update;
    if (applied) {
      count_superseded(t);
      settle_shadow(t, true, {});
    } else {
      const std::string dst = display_path(t.path);
      record_failure(u, t, dst, error, failure_reason::store, true, {});
      settle_shadow(t, false, error);
    }
    if (--u.remaining == 0) {
      complete_update(u);
    }
  }
}

std::size_t updater::entry_bytes(const model::data_source_entry& e) noexcept {
  return entry_overhead_bytes + e.url.size() + e.dst_path.size() +
         (e.data_json ? e.data_json->size() : 0) + (e.config_json ? e.config_json->size() : 0);
}

bool updater::covers(const std::string& ancestor, const std::string& path) {
  return ancestor.empty() || path == ancestor ||
         (path.size() > ancestor.size() && path.compare(0, ancestor.size(), ancestor) == 0 &&
          path[ancestor.size()] == '/');
}

void updater::supersede_before(task& newer) {
  if (newer.entry.method != model::save_method::put || newer.path == "\x01invalid") {
    return;
  }
  // Walk back from the newest queued entry; an overlapping entry that the PUT does not cover
  // (a write to an ancestor) may depend on what lies below it: nothing before it is set aside.
  std::vector<std::size_t> doomed;
  bool blocked = false;
  for (std::size_t i = pending_.size(); i-- > 0;) {
    const auto& p = pending_[i].path;
    if (p == "\x01invalid") {
      continue;
    }
    if (covers(newer.path, p)) {
      doomed.push_back(i);
    } else if (model::paths_overlap(p, newer.path)) {
      blocked = true;
      break;
    }
  }
  const auto shadow = [&newer]() -> shadow_list& {
    if (!newer.shadow) {
      newer.shadow = std::make_shared<shadow_list>();
    }
    return *newer.shadow;
  };
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {  // ascending: arrival order
    shadow().push_back(std::move(pending_[*it]));
  }
  for (const auto i : doomed) {  // descending indices: erasing keeps the others valid
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (!doomed.empty()) {
    SPDLOG_LOGGER_DEBUG(logger(), "{} queued entr{} at or below {} set aside for a newer PUT",
                        doomed.size(), doomed.size() == 1 ? "y" : "ies", display_path(newer.path));
  }
  if (blocked) {
    return;
  }
  for (const auto& ctl : running_ctls_) {
    if (!covers(newer.path, ctl->path) && model::paths_overlap(ctl->path, newer.path)) {
      return;
    }
  }
  for (const auto& ctl : running_ctls_) {
    if (covers(newer.path, ctl->path) && !ctl->superseded) {
      shadow();
      ctl->superseded = true;  // a retry wait ends now; a write in progress finishes
      ctl->superseded_by = newer.shadow;
      ctl->timer->cancel();
    }
  }
}

void updater::count_superseded(task& t) {
  auto& u = *t.update;
  ++u.outcome.applied;
  ++u.outcome.superseded;
  SPDLOG_LOGGER_INFO(logger(), "{} {} of update id={} not written: overwritten by a newer PUT",
                     model::to_string(t.entry.method), display_path(t.path), u.id.value_or(""));
  if (options_.collect_reports) {
    entry_report r;
    r.entry = std::move(t.entry);
    r.saved = true;
    u.outcome.reports.push_back(std::move(r));
  }
}

std::optional<std::chrono::steady_clock::time_point> updater::oldest_open_since() const {
  if (open_updates_.empty()) {
    return std::nullopt;
  }
  return open_updates_.begin()->second;  // serials grow with time
}

void updater::complete_update(update_ctx& u) {
  open_updates_.erase(u.serial);
  queued_bytes_ -= std::min(queued_bytes_, u.bytes);
  u.bytes = 0;
  if (u.seq && u.seq_space == seq_space_) {
    inflight_seqs_.erase(*u.seq);
    finished_seqs_[*u.seq] = u.outcome.ok;
    const auto blocked_at = [this] {
      std::uint64_t m = UINT64_MAX;
      if (!inflight_seqs_.empty()) {
        m = *inflight_seqs_.begin();
      }
      if (!overflowed_seqs_.empty()) {
        m = std::min(m, *overflowed_seqs_.begin());
      }
      return m;
    };
    while (!finished_seqs_.empty() && finished_seqs_.begin()->first < blocked_at()) {
      watermark_ = std::max(watermark_.value_or(0), finished_seqs_.begin()->first);
      finished_seqs_.erase(finished_seqs_.begin());
    }
    if (watermark_) {
      state_.set_last_applied_seq(*watermark_);
    }
  }
  if (u.on_done) {
    auto fn = std::move(u.on_done);
    fn(u.outcome);
  }
  if (options_.on_update_done) {
    options_.on_update_done();
  }
}

std::optional<bool> updater::finished_ok(std::uint64_t seq) const {
  const auto it = finished_seqs_.find(seq);
  return it == finished_seqs_.end() ? std::nullopt : std::optional<bool>(it->second);
}

void updater::stop() {
  stopped_ = true;
  pending_.clear();
  for (const auto& ctl : running_ctls_) {
    ctl->timer->cancel();  // a retry wait ends; the task sees stopped_ and gives up
  }
}

void updater::hold(bool on) {
  held_ = on;
  if (!on) {
    net::post(impl_->ioc, [this] { pump(); });
  }
}

void updater::restart_sequence() {
  ++seq_space_;
  watermark_.reset();
  inflight_seqs_.clear();
  finished_seqs_.clear();
  overflowed_seqs_.clear();
}

void updater::set_applied_seq(std::optional<std::uint64_t> seq) {
  watermark_ = seq;
  if (seq) {
    state_.set_last_applied_seq(*seq);
  }
}

}  // namespace pdl::agent
