#pragma once
// SHA-256 over OpenSSL's EVP: the hashes in OPAL's DataUpdateReport, the policy bundles' digests.
#include <string>
#include <string_view>

namespace pdl::auth {

/** Lower-case hex digest of @p bytes. */
std::string sha256_hex(std::string_view bytes);

/** Lower-case hex digest of the file at @p path, read in 64 KiB chunks (bounded memory).
 *  @throws std::runtime_error when the file cannot be read. */
std::string sha256_file_hex(const std::string& path);

}  // namespace pdl::auth
