#pragma once
#include <string>
#include <string_view>

namespace pdl::auth {

/** generate-secret: @p size random bytes (OpenSSL RAND_bytes) rendered as
 *  "urlsafe" (base64url, no padding, like Python's token_urlsafe, but never starting with '-'
 *  so it can follow a verb on a command line), "hex", or "bytes" (Python's
 *  repr of a bytes object: b'\x..'). @throws std::invalid_argument for a bad size or format. */
std::string generate_secret(int size, std::string_view format);

}  // namespace pdl::auth
