#pragma once
// Signed, expiring URLs of blobs (docs/fetch-once.md): what the stored entry's `url` says, so a
// client that knows nothing of blobs (OPAL's) can open it without any header and without the
// source's credentials. The signature is an HMAC-SHA256 over the hash and the expiry, keyed by a
// secret derived from the server's private key: every replica that shares the key signs and
// checks alike, and a restart keeps earlier URLs valid.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/model/data_update.hpp"

namespace pdl::server::blobs {

class blob_urls {
 public:
  /** @p key: the HMAC key (at least 32 bytes of secret). */
  blob_urls(std::string key, std::chrono::seconds ttl);

  /** <base>/data/blobs/<sha256>?expires=<unix seconds>&sig=<64 hex>; @p base is
   *  "http(s)://host[:port][/prefix]" or "" (a path only). */
  std::string signed_url(std::string_view base, std::string_view sha256,
                         std::chrono::system_clock::time_point now) const;

  /** True when @p query (the raw query string of a GET /data/blobs/<sha256>) carries a valid,
   *  unexpired signature for @p sha256. Constant-time comparison. */
  bool valid(std::string_view sha256, std::string_view query,
             std::chrono::system_clock::time_point now) const;

  /** The path of blob @p sha256's route, "/data/blobs/<sha256>". */
  static std::string path_of(std::string_view sha256);

 private:
  std::string signature(std::string_view sha256, std::int64_t expires) const;
  std::string key_;
  std::chrono::seconds ttl_;
};

/** What agents receive for an entry the server fetched: @p e pointed at blob @p ref (its url
 *  @p signed_url, `blob` set, fetched_by server), without the source's config and without a
 *  periodic_update_interval (the server refreshes it, not agents). */
void point_at_blob(model::data_source_entry& e, const model::blob_ref& ref, std::string signed_url);

/** The HMAC key derived from the server's RSA key: SHA-256 of its RS256 signature over a fixed
 *  label (PKCS#1 v1.5 signatures are deterministic, so every holder of the key derives the same
 *  secret; nobody without it can). */
std::string derive_url_key(std::string_view rs256_signature_of_label);
/** The label derive_url_key's signature is over. */
inline constexpr std::string_view url_key_label = "pdl blob url key v1";

}  // namespace pdl::server::blobs
