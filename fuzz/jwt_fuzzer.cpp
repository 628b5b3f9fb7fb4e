// JWT verification with a fixed key and clock. The first input byte picks a mode:
//  - even: the rest is a token as received; nobody can sign without our key, so verify() must
//    refuse it, and the refusal must not quote the token;
//  - odd: the rest is "<header JSON>\n<claims JSON>", which we sign with the verifier's own key,
//    so the claim checks behind the signature are reached; whatever is accepted must satisfy
//    every documented check.
// Plus base64url: decode accepts one spelling per byte string (encode(decode(t)) == t).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.hpp"
#include "shared/auth/jwt.hpp"
#include "shared/auth/keys.hpp"

namespace {

using namespace pdl::auth;

constexpr std::int64_t now_s = 1795855847;

const rsa_key& key() {
  static const rsa_key k = rsa_key::generate(2048);
  return k;
}

const jwt_verifier& verifier() {
  static const jwt_verifier v({key()}, std::string(default_issuer), std::string(default_audience),
                              [] { return std::chrono::system_clock::time_point(
                                       std::chrono::seconds(now_s)); });
  return v;
}

void check_base64(std::string_view text) {
  std::string bytes;
  try {
    bytes = base64url_decode(text);
  } catch (const std::invalid_argument&) {
    return;
  }
  std::string_view unpadded = text;
  while (!unpadded.empty() && unpadded.back() == '=') {
    unpadded.remove_suffix(1);
  }
  PDL_FUZZ_CHECK(base64url_encode(bytes) == unpadded, "base64url: two spellings of one value");
}

void check_refusal(const verify_error& err, std::string_view token) {
  PDL_FUZZ_CHECK(!err.message.empty(), "refusal without message");
  // Long and without spaces, so the fuzzer cannot match a fragment of our own constant messages.
  if (token.size() >= 32 && token.find_first_of(" \t\n") == std::string_view::npos) {
    PDL_FUZZ_CHECK(err.message.find(token) == std::string::npos, "error quotes the token");
  }
}

void check_accepted(const verified_token& t) {
  const auto& c = t.claims;
  PDL_FUZZ_CHECK(c.is_object(), "claims not an object");
  PDL_FUZZ_CHECK(c.contains("exp") && c["exp"].is_number(), "accepted without exp");
  PDL_FUZZ_CHECK(c["exp"].get<double>() > static_cast<double>(now_s), "accepted expired");
  PDL_FUZZ_CHECK(c.contains("iss") && c["iss"] == default_issuer, "accepted wrong iss");
  PDL_FUZZ_CHECK(c.contains("aud"), "accepted without aud");
  PDL_FUZZ_CHECK(c.contains("sub") && c["sub"].is_string() && !t.subject.empty(),
                 "accepted without sub");
  if (c.contains("peer_type")) {
    PDL_FUZZ_CHECK(t.peer.has_value(), "peer_type present but not parsed");
  }
}

void check_signed(std::string_view rest) {
  const auto nl = rest.find('\n');
  if (nl == std::string_view::npos) {
    return;
  }
  const std::string input = base64url_encode(rest.substr(0, nl)) + "." +
                            base64url_encode(rest.substr(nl + 1));
  const std::string token = input + "." + base64url_encode(key().sign_rs256(input));
  const auto result = verifier().verify(token);
  if (const auto* err = std::get_if<verify_error>(&result)) {
    check_refusal(*err, token);
    return;
  }
  const auto header = nlohmann::json::parse(rest.substr(0, nl), nullptr, false);
  PDL_FUZZ_CHECK(header.is_object() && header.value("alg", "") == "RS256",
                 "accepted a header whose alg is not RS256");
  check_accepted(std::get<verified_token>(result));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  check_base64(rest);
  if ((data[0] & 1) == 0) {
    const auto result = verifier().verify(rest);
    const auto* err = std::get_if<verify_error>(&result);
    PDL_FUZZ_CHECK(err != nullptr, "accepted a token we never signed");
    check_refusal(*err, rest);
  } else {
    check_signed(rest);
  }
  return 0;
}
