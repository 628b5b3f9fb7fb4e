// The blocking client: each hop's easy handle runs on the calling thread (curl_easy_perform);
// the hop logic is transfer.cpp's. A connection_pool is a libcurl share handle.
#include "shared/http/client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "shared/http/transfer.hpp"
#include "shared/http/url.hpp"

namespace pdl::http_client {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

struct connection_pool::impl {
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<impl*>(user)->locks[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<impl*>(user)->locks[data].unlock();
  }
};

connection_pool::connection_pool() : impl_(std::make_unique<impl>()) {
  detail::global_init();
  impl_->share = curl_share_init();
  if (impl_->share == nullptr) {
    throw std::runtime_error("libcurl could not create a share handle");
  }
  curl_share_setopt(impl_->share, CURLSHOPT_LOCKFUNC, &impl::lock);
  curl_share_setopt(impl_->share, CURLSHOPT_UNLOCKFUNC, &impl::unlock);
  curl_share_setopt(impl_->share, CURLSHOPT_USERDATA, impl_.get());
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

connection_pool::~connection_pool() {
  if (impl_ && impl_->share != nullptr) {
    curl_share_cleanup(impl_->share);  // closes the kept connections
  }
}

std::optional<std::string> response::header(std::string_view name) const {
  const auto wanted = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == wanted) {
      return v;
    }
  }
  return std::nullopt;
}

std::vector<std::string> supported_encodings() {
  detail::global_init();
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  std::vector<std::string> out;
  if ((info->features & CURL_VERSION_LIBZ) != 0) {
    out = {"gzip", "deflate"};
  }
  if ((info->features & CURL_VERSION_BROTLI) != 0) {
    out.emplace_back("br");
  }
  if ((info->features & CURL_VERSION_ZSTD) != 0) {
    out.emplace_back("zstd");
  }
  return out;
}

std::variant<response, transport_error> perform(const request& req, const body_sink& sink) {
  detail::global_init();
  detail::runner_options runner;
  if (req.connections) {
    runner.share = req.connections->get().share;
  }
  detail::transfer t(req, sink, runner);
  if (auto f = t.start()) {
    return detail::to_error(*f, req);
  }
  for (;;) {
    const CURLcode rc = curl_easy_perform(t.current().easy.get());
    auto out = t.finished(rc);
    if (auto* f = std::get_if<detail::failure>(&out)) {
      return detail::to_error(*f, req);
    }
    if (auto* r = std::get_if<response>(&out)) {
      return std::move(*r);
    }
  }
}

}  // namespace pdl::http_client
