#pragma once
// SHA-256 over OpenSSL's EVP: the hashes in OPAL's DataUpdateReport, the policy bundles' digests.
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace pdl::auth {

/** SHA-256 over bytes that arrive in pieces (a fetched body on its way to disk). */
class sha256_stream {
 public:
  sha256_stream();
  ~sha256_stream();
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;

  void update(std::string_view bytes);
  /** The lower-case hex digest; call once. */
  std::string finish();

 private:
  evp_md_ctx_st* ctx_;
};

/** Lower-case hex digest of @p bytes. */
std::string sha256_hex(std::string_view bytes);

/** Lower-case hex digest of the file at @p path, read in 64 KiB chunks (bounded memory).
 *  @throws std::runtime_error when the file cannot be read. */
std::string sha256_file_hex(const std::string& path);

}  // namespace pdl::auth
