#include "agent/agent_metrics.hpp"

#include "shared/http/client.hpp"

namespace pdl::agent {
namespace {

constexpr std::size_t reason_count = failure_reason_count;
constexpr std::size_t max_label_chars = 256;

std::size_t index_of(failure_reason r) noexcept { return static_cast<std::size_t>(r); }

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* to_string(failure_reason r) noexcept {
  switch (r) {
    case failure_reason::fetch: return "fetch";
    case failure_reason::source_status: return "source_status";
    case failure_reason::invalid_payload: return "invalid_payload";
    case failure_reason::store: return "store";
    case failure_reason::store_refused: return "store_refused";
    case failure_reason::timeout: return "timeout";
    case failure_reason::source_refused: return "source_refused";
    case failure_reason::secret_missing: return "secret_missing";
    case failure_reason::blob_mismatch: return "blob_mismatch";
    case failure_reason::other: return "other";
  }
  return "other";
}

std::string source_label(const model::data_source_entry& entry) {
  if (entry.data_json) {
    return "inline";
  }
  if (entry.blob) {
    // Its url names the blob (a new hash per publish): one label per blob would push real
    // sources out of the bounded table.
    return "blob";
  }
  std::string s = http_client::redact_url(entry.url);
  if (s.empty()) {
    return "unknown";
  }
  // Bounded and printable ASCII only: a label must not carry control bytes or invalid UTF-8
  // from a publisher's URL into the scrape.
  if (s.size() > max_label_chars) {
    s.resize(max_label_chars);
  }
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      c = '?';
    }
  }
  return s;
}

agent_metrics::agent_metrics()
    : apply_seconds_(metrics::histogram::latency_bounds()),
      fetch_seconds_(metrics::histogram::latency_bounds()) {}

void agent_metrics::count_applied(double seconds) noexcept {
  applied_.fetch_add(1, std::memory_order_relaxed);
  apply_seconds_.observe(seconds);
}

void agent_metrics::count_failed(failure_reason reason) noexcept {
  failed_[index_of(reason)].fetch_add(1, std::memory_order_relaxed);
}

void agent_metrics::note_server_seq(std::uint64_t seq) noexcept {
  auto cur = server_seq_.load(std::memory_order_relaxed);
  while (seq > cur &&
         !server_seq_.compare_exchange_weak(cur, seq, std::memory_order_relaxed)) {
  }
}

agent_metrics::source_stats& agent_metrics::source_slot(const std::string& source) {
  auto it = sources_.find(source);
  if (it != sources_.end()) {
    return it->second;
  }
  // "other" does not take one of the max_sources slots.
  const std::size_t named = sources_.size() - sources_.count("other");
  return sources_[named < max_sources ? source : std::string("other")];
}

void agent_metrics::source_success(const std::string& source) {
  const double now = unix_now();
  std::lock_guard lk(mu_);
  source_slot(source).last_success = now;
}

void agent_metrics::source_failure(const std::string& source, failure_reason reason) {
  const double now = unix_now();
  std::lock_guard lk(mu_);
  auto& s = source_slot(source);
  s.last_error = now;
  ++s.failures[index_of(reason)];
}

void agent_metrics::write(metrics::writer& w, const agent_gauges& g) const {
  const auto relaxed = std::memory_order_relaxed;
  w.counter("pdl_agent_updates_received_total", "Update notifies received from the server.",
            static_cast<double>(received_.load(relaxed)));
  w.counter("pdl_agent_updates_applied_total",
            "Update notifies whose every entry was applied.",
            static_cast<double>(applied_.load(relaxed)));
  for (std::size_t i = 0; i < reason_count; ++i) {
    w.counter("pdl_agent_updates_failed_total",
              "Update notifies with a failed entry, by the first failed entry's reason.",
              static_cast<double>(failed_[i].load(relaxed)),
              {{"reason", to_string(static_cast<failure_reason>(i))}});
  }
  w.histogram("pdl_agent_apply_seconds",
              "Time from a notify's arrival until every entry of it was written.",
              apply_seconds_.read());
  w.histogram("pdl_agent_fetch_seconds", "Duration of each fetch attempt from a data source.",
              fetch_seconds_.read());
  w.counter("pdl_agent_fetched_bytes_total", "Bytes of data fetched from data sources.",
            static_cast<double>(fetched_bytes_.load(relaxed)));
  w.counter("pdl_agent_written_bytes_total", "Bytes of data the policy engine accepted.",
            static_cast<double>(written_bytes_.load(relaxed)));
  w.gauge("pdl_agent_queued_bytes",
          "Memory held by queued updates (inline data, URLs, configs; fetched payloads are in "
          "temp files), bounded by limits.queue_bytes.",
          static_cast<double>(g.queued_bytes));
  w.gauge("pdl_agent_feed_paused",
          "1 while the agent stops reading the server because its queue is full.",
          g.feed_paused ? 1 : 0);
  w.gauge("pdl_agent_queue_depth", "Entries waiting or running in the updater.",
          static_cast<double>(g.queue_depth));
  w.gauge("pdl_agent_oldest_pending_update_seconds",
          "Age of the oldest update not yet applied or failed (0 when none is pending).",
          g.oldest_pending_seconds);
  if (g.report_queue_depth) {
    w.gauge("pdl_agent_report_queue_depth", "Update reports waiting to be sent.",
            static_cast<double>(*g.report_queue_depth));
  }
  w.gauge("pdl_agent_connected", "1 while subscribed to a server.", g.connected ? 1 : 0);
  w.counter("pdl_agent_reconnects_total", "Connections to a server after the first one.",
            static_cast<double>(reconnects_.load(relaxed)));
  w.gauge("pdl_agent_applied_seq",
          "Highest seq such that it and every earlier one was processed (0 = none).",
          static_cast<double>(g.applied_seq));
  w.gauge("pdl_agent_server_seq", "Highest seq seen from the server (0 = none).",
          static_cast<double>(server_seq_.load(relaxed)));
  {
    std::lock_guard lk(mu_);
    for (const auto& [source, s] : sources_) {
      if (s.last_success > 0) {
        w.gauge("pdl_agent_source_last_success_timestamp_seconds",
                "Unix time of the last entry from this source applied.", s.last_success,
                {{"source", source}});
      }
    }
    for (const auto& [source, s] : sources_) {
      if (s.last_error > 0) {
        w.gauge("pdl_agent_source_last_error_timestamp_seconds",
                "Unix time of the last entry from this source that failed.", s.last_error,
                {{"source", source}});
      }
    }
    for (const auto& [source, s] : sources_) {
      for (std::size_t i = 0; i < reason_count; ++i) {
        if (s.failures[i] > 0) {
          w.counter("pdl_agent_source_failures_total", "Failed entries by source and reason.",
                    static_cast<double>(s.failures[i]),
                    {{"source", source}, {"reason", to_string(static_cast<failure_reason>(i))}});
        }
      }
    }
  }
  w.gauge("pdl_agent_store_healthy",
          "1 while the policy engine answers its health probe and no write to it is failing.",
          g.store_healthy ? 1 : 0);
  w.gauge("pdl_agent_ready", "1 once the agent is ready (/ready answers 200).", g.ready ? 1 : 0);
  w.counter("pdl_agent_engine_rebuilds_total",
            "Rebuilds of the policy engine's data (backup replays after a restart or a lost "
            "marker).",
            static_cast<double>(g.engine_rebuilds));
}

}  // namespace pdl::agent
