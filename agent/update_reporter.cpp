#include "agent/update_reporter.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "agent/base_config.hpp"
#include "agent/supervisor.hpp"
#include "shared/http/url.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"
#include "shared/model/fetcher_config.hpp"
#include "shared/net/offload.hpp"

namespace pdl::agent {
namespace {

constexpr std::size_t max_reported_data = 64 * 1024;
constexpr std::size_t max_callbacks = 32;  // per update

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("agent.report");
  return l;
}

long default_send(const http_client::request& req, std::string& error) {
  auto result = http_client::perform(req);
  if (auto* err = std::get_if<http_client::transport_error>(&result)) {
    error = err->message;
    return 0;
  }
  return std::get<http_client::response>(result).status;
}

bool is_http(const std::string& url) { return http_client::is_http_url(url); }

bool has_header(const http_client::request& req, std::string_view name) {
  return std::any_of(req.headers.begin(), req.headers.end(), [&](const auto& h) {
    return h.first.size() == name.size() &&
           std::equal(h.first.begin(), h.first.end(), name.begin(),
                      [](char a, char b) { return std::tolower(a) == std::tolower(b); });
  });
}

nlohmann::json entry_json(const model::data_source_entry& entry) {
  model::data_source_entry copy = entry;
  if (copy.data_json && copy.data_json->size() > max_reported_data) {
    copy.data_json.reset();
  }
  auto j = nlohmann::json::parse(model::to_json(copy), nullptr, false);
  if (j.is_discarded()) {
    return nlohmann::json::object();
  }
  auto cfg = j.find("config");
  if (cfg != j.end() && cfg->is_object()) {
    auto headers = cfg->find("headers");
    if (headers != cfg->end() && headers->is_object()) {
      for (auto& [name, value] : headers->items()) {
        value = "<redacted>";
      }
    }
  }
  return j;
}

}  // namespace

struct update_reporter::impl {
  net::io_context& ioc;
  net::thread_pool& pool;
};

update_reporter::update_reporter(net::io_context& ioc, net::thread_pool& pool,
                                 reporter_options options, report_sender sender)
    : impl_(std::make_unique<impl>(impl{ioc, pool})),
      options_(std::move(options)),
      sender_(sender ? std::move(sender) : report_sender(default_send)) {}

update_reporter::~update_reporter() = default;

std::string update_reporter::report_json(const std::optional<std::string>& update_id,
                                         const std::vector<entry_report>& reports) {
  nlohmann::json j;
  j["update_id"] = update_id ? nlohmann::json(*update_id) : nlohmann::json();
  auto& list = j["reports"] = nlohmann::json::array();
  for (const auto& r : reports) {
    list.push_back({{"entry", entry_json(r.entry)},
                    {"fetched", r.fetched},
                    {"saved", r.saved},
                    {"hash", r.hash.empty() ? nlohmann::json() : nlohmann::json(r.hash)}});
  }
  j["policy_hash"] = nullptr;
  j["user_data"] = nlohmann::json::object();
  return j.dump();
}

void update_reporter::report(const std::optional<std::string>& update_id,
                             const std::string& callback_json,
                             const std::vector<entry_report>& reports) {
  if (stopped_) {
    return;
  }
  const std::string body = report_json(update_id, reports);
  const auto base_request = [&](const std::string& url) {
    http_client::request req;
    req.method = "POST";
    req.url = url;
    http_client::use_tls(req, options_.tls);
    req.connections = connections_;  // reports to one server reuse one connection
    req.body = body;
    req.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(5000));
    req.idle_timeout = options_.timeout;
    req.total_timeout = options_.timeout;
    req.max_response_bytes = 64 * 1024;
    return req;
  };
  std::vector<http_client::request> requests;
  for (const auto& url : options_.default_callbacks) {
    auto req = base_request(url);
    req.headers.emplace_back("Content-Type", secret("application/json"));
    requests.push_back(std::move(req));
  }
  const auto cb = nlohmann::json::parse(callback_json, nullptr, false);
  const auto list = cb.is_object() ? cb.find("callbacks") : cb.end();
  if (cb.is_object() && list != cb.end() && list->is_array()) {
    std::size_t n = 0;
    for (const auto& item : *list) {
      if (++n > max_callbacks) {
        SPDLOG_LOGGER_WARN(logger(), "update id={}: only the first {} callbacks are called",
                           update_id.value_or(""), max_callbacks);
        break;
      }
      std::string url;
      std::optional<std::string> config;
      if (item.is_string()) {
        url = item.get<std::string>();
      } else if (item.is_array() && item.size() == 2 && item[0].is_string() &&
                 (item[1].is_object() || item[1].is_null())) {
        url = item[0].get<std::string>();
        if (item[1].is_object()) {
          config = item[1].dump();
        }
      } else {
        SPDLOG_LOGGER_WARN(logger(), "update id={}: ignoring a callback that is neither a URL nor "
                           "[url, config]", update_id.value_or(""));
        continue;
      }
      auto req = base_request(url);
      try {
        const auto fc = model::parse_fetcher_config(config);
        req.headers = fc.headers;
        if (config && item[1].contains("method")) {
          req.method = fc.method;
        }
      } catch (const model::invalid_input& e) {
        SPDLOG_LOGGER_WARN(logger(), "update id={}: ignoring callback {}: {}",
                           update_id.value_or(""), http_client::redact_url(url), e.what());
        continue;
      }
      if (!has_header(req, "content-type")) {
        req.headers.emplace_back("Content-Type", secret("application/json"));
      }
      if (options_.rules) {
        http_client::apply(*options_.rules, req);
      }
      requests.push_back(std::move(req));
    }
  }
  for (auto& req : requests) {
    if (!is_http(req.url)) {
      SPDLOG_LOGGER_WARN(logger(), "ignoring callback '{}': not an http(s) URL",
                         http_client::redact_url(req.url));
      continue;
    }
    const auto origin = url_origin(req.url);
    const bool ours = !origin.empty() && std::find(options_.token_origins.begin(),
                                                   options_.token_origins.end(),
                                                   origin) != options_.token_origins.end();
    if (ours && !options_.token.empty() && !has_header(req, "authorization")) {
      req.headers.emplace_back("Authorization", secret("Bearer " + options_.token.reveal()));
    }
    enqueue(std::move(req));
  }
  drain();
}

void update_reporter::enqueue(http_client::request req) {
  if (queue_.size() >= std::max<std::size_t>(1, options_.max_queue)) {
    if (!overflow_logged_) {
      SPDLOG_LOGGER_WARN(logger(), "more than {} reports wait to be sent; dropping the oldest "
                         "(logged once)", options_.max_queue);
      overflow_logged_ = true;
    }
    queue_.pop_front();
  }
  queue_.push_back(pending{std::move(req)});
}

void update_reporter::drain() {
  if (draining_ || stopped_ || queue_.empty()) {
    return;
  }
  draining_ = true;
  auto run = [](update_reporter* self) -> net::awaitable<void> {
    while (!self->stopped_ && !self->queue_.empty()) {
      pending p = std::move(self->queue_.front());
      self->queue_.pop_front();
      std::string error;
      const long status = co_await offload(self->impl_->pool, [self, &p, &error] {
        return self->sender_(p.req, error);
      });
      const std::string where = http_client::redact_url(p.req.url);
      if (status >= 200 && status < 300) {
        ++self->sent_;
        if (self->failing_urls_.erase(where) != 0) {
          SPDLOG_LOGGER_INFO(logger(), "report callback {} works again", where);
        }
        continue;
      }
      ++self->failed_;
      const std::string what = status == 0 ? error : "HTTP " + std::to_string(status);
      if (self->failing_urls_.insert(where).second) {
        SPDLOG_LOGGER_WARN(logger(), "report callback {} failed: {} (further failures of this "
                           "URL are logged at debug level)", where, what);
      } else {
        SPDLOG_LOGGER_DEBUG(logger(), "report callback {} failed: {}", where, what);
      }
    }
    self->draining_ = false;
  };
  net::co_spawn(impl_->ioc, run(this), [this](std::exception_ptr ep) {
    if (ep) {
      draining_ = false;
      SPDLOG_LOGGER_ERROR(logger(), "report sender failed: {}", describe(ep));
    }
  });
}

void update_reporter::stop() {
  stopped_ = true;
  queue_.clear();
}

}  // namespace pdl::agent
