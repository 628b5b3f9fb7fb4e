#include "server/blobs/blob_urls.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

#include "shared/auth/jwt.hpp"
#include "shared/auth/sha256.hpp"

namespace pdl::server::blobs {
namespace {

std::string hex(const unsigned char* p, unsigned n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

/** The value of @p name in a raw query string (no decoding: ours are plain digits and hex). */
std::string_view param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

blob_urls::blob_urls(std::string key, std::chrono::seconds ttl)
    : key_(std::move(key)), ttl_(ttl) {
  if (key_.size() < 32) {
    throw std::invalid_argument("blob_urls: the key is shorter than 32 bytes");
  }
}

std::string blob_urls::path_of(std::string_view sha256) {
  return fmt::format("/data/blobs/{}", sha256);
}

std::string blob_urls::signature(std::string_view sha256, std::int64_t expires) const {
  const std::string message = fmt::format("{}\n{}", sha256, expires);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return hex(mac, len);
}

std::string blob_urls::signed_url(std::string_view base, std::string_view sha256,
                                  std::chrono::system_clock::time_point now) const {
  const std::int64_t expires =
      std::chrono::duration_cast<std::chrono::seconds>((now + ttl_).time_since_epoch()).count();
  return fmt::format("{}{}?expires={}&sig={}", base, path_of(sha256), expires,
                     signature(sha256, expires));
}

bool blob_urls::valid(std::string_view sha256, std::string_view query,
                      std::chrono::system_clock::time_point now) const {
  const std::string_view expires_text = param(query, "expires");
  const std::string_view sig = param(query, "sig");
  std::int64_t expires = 0;
  const auto [end, ec] =
      std::from_chars(expires_text.data(), expires_text.data() + expires_text.size(), expires);
  if (expires_text.empty() || ec != std::errc() || end != expires_text.data() + expires_text.size()) {
    return false;
  }
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (now_s > expires) {
    return false;
  }
  return auth::constant_time_equals(sig, signature(sha256, expires));
}

void point_at_blob(model::data_source_entry& e, const model::blob_ref& ref, std::string signed_url) {
  e.url = std::move(signed_url);
  e.config_json.reset();  // the source's headers never leave the server
  e.periodic_update_interval.reset();
  e.fetched_by = model::fetched_by::server;
  e.blob = ref;
}

std::string derive_url_key(std::string_view rs256_signature_of_label) {
  std::string key = auth::sha256_hex(rs256_signature_of_label);
  return key;  // 64 hex characters: 256 bits of the signature's entropy
}

}  // namespace pdl::server::blobs
