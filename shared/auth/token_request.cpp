// POST /token: the AccessTokenRequest schema (strict) and the AccessToken answer.
#include "shared/auth/token_request.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <regex>

#include "shared/auth/openssl_util.hpp"
#include "shared/model/errors.hpp"

namespace pdl::auth {
namespace {

using pdl::model::invalid_input;

constexpr std::size_t max_body_bytes = 64 * 1024;
constexpr int max_json_depth = 32;
constexpr double max_ttl_seconds = 3653.0 * 86400;  // ten years, leap days included
constexpr std::array<std::string_view, 8> reserved_claims = {"iat", "exp", "nbf", "aud",
                                                             "iss", "sub", "jti", "peer_type"};

bool is_reserved(std::string_view name) {
  return std::find(reserved_claims.begin(), reserved_claims.end(), name) != reserved_claims.end();
}

double number_or_zero(const std::ssub_match& m) { return m.matched ? std::stod(m.str()) : 0.0; }

/** pydantic v1 timedelta strings: ISO-8601 "P[nD][T[nH][nM][nS]]" (fractions allowed) or
 *  "[D [day[s], ]][[HH:]MM:]SS[.ffffff]". */
std::optional<double> parse_duration_text(const std::string& s) {
  static const std::regex iso(
      R"(^([-+]?)P(?:(\d+(?:\.\d+)?)D)?)"
      R"((?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$)");
  static const std::regex clock(
      R"(^(?:(-?\d+) (?:days?, )?)?(?:(-?\d+):(?=\d+:\d+))?(?:(-?\d+):)?)"
      R"((-?\d+)(?:\.(\d{1,6})\d{0,6})?$)");
  std::smatch m;
  if (std::regex_match(s, m, iso)) {
    const double sign = m[1].str() == "-" ? -1.0 : 1.0;
    return sign * (number_or_zero(m[2]) * 86400 + number_or_zero(m[3]) * 3600 +
                   number_or_zero(m[4]) * 60 + number_or_zero(m[5]));
  }
  if (std::regex_match(s, m, clock)) {
    double micro = 0;
    if (m[5].matched) {
      std::string digits = m[5].str();
      digits.resize(6, '0');
      micro = std::stod(digits) / 1e6;
    }
    double seconds = number_or_zero(m[4]);
    seconds += seconds < 0 ? -micro : micro;
    return number_or_zero(m[1]) * 86400 + number_or_zero(m[2]) * 3600 + number_or_zero(m[3]) * 60 +
           seconds;
  }
  return std::nullopt;
}

std::chrono::seconds parse_ttl(const nlohmann::json& v) {
  double seconds = 0;
  if (v.is_number()) {
    seconds = v.get<double>();
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::optional<double> parsed;
    if (s.size() <= 64) {
      try {
        parsed = parse_duration_text(s);
      } catch (const std::exception&) {  // stod out of range
        parsed.reset();
      }
    }
    if (!parsed) {
      throw invalid_input("ttl",
                          "must be a number of seconds, an ISO-8601 duration (\"P30D\", "
                          "\"PT1H30M\") or \"[D ]HH:MM:SS\"");
    }
    seconds = *parsed;
  } else {
    throw invalid_input("ttl", "must be a number of seconds or a duration string");
  }
  if (!std::isfinite(seconds) || std::floor(seconds) < 1) {
    throw invalid_input("ttl", "must be at least 1 second");
  }
  if (seconds > max_ttl_seconds) {
    throw invalid_input("ttl", "must be at most 10 years");
  }
  return std::chrono::seconds(static_cast<std::int64_t>(std::floor(seconds)));
}

void check_claims(const nlohmann::json& claims) {
  if (!claims.is_object()) {
    throw invalid_input("claims", "must be an object");
  }
  for (const auto& [name, value] : claims.items()) {
    if (is_reserved(name)) {
      throw invalid_input("claims." + name,
                          "is a reserved claim set by the server and cannot be overridden");
    }
  }
  if (const auto topics = claims.find("permitted_topics"); topics != claims.end()) {
    if (!topics->is_array()) {
      throw invalid_input("claims.permitted_topics", "must be a list of topic strings");
    }
    for (std::size_t i = 0; i < topics->size(); ++i) {
      if (!(*topics)[i].is_string() || (*topics)[i].get_ref<const std::string&>().empty()) {
        throw invalid_input(fmt::format("claims.permitted_topics[{}]", i),
                            "must be a non-empty string");
      }
    }
  }
}

std::string dashed(const std::string& hex32) {
  return hex32.substr(0, 8) + '-' + hex32.substr(8, 4) + '-' + hex32.substr(12, 4) + '-' +
         hex32.substr(16, 4) + '-' + hex32.substr(20);
}

std::string iso_utc(std::int64_t epoch_seconds) {
  const std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

token_request parse_token_request(std::string_view body) {
  if (body.size() > max_body_bytes) {
    throw invalid_input("", "request body is larger than 64 KiB");
  }
  bool too_deep = false;
  nlohmann::json j = nlohmann::json::parse(
      body,
      [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        too_deep = too_deep || depth > max_json_depth;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) {
    throw invalid_input("", "request body nests deeper than 32 levels");
  }
  if (j.is_discarded()) {
    throw invalid_input("", "request body is not valid JSON");
  }
  if (!j.is_object()) {
    throw invalid_input("", "request body must be a JSON object");
  }

  token_request req;
  for (const auto& [name, value] : j.items()) {
    if (name != "id" && name != "type" && name != "ttl" && name != "claims") {
      throw invalid_input(name, "unknown field (expected id, type, ttl, claims)");
    }
  }
  if (const auto id = j.find("id"); id != j.end() && !id->is_null()) {
    std::optional<std::string> hex;
    if (id->is_string()) {
      hex = detail::uuid_hex32(id->get_ref<const std::string&>());
    }
    if (!hex) {
      throw invalid_input("id", "must be a UUID such as 2d3039cc-92a3-4c34-a636-61b3a319b087");
    }
    req.id = dashed(*hex);
  } else {
    req.id = make_uuid4();
  }
  if (const auto type = j.find("type"); type != j.end() && !type->is_null()) {
    std::optional<peer_type> t;
    if (type->is_string()) {
      t = parse_peer_type(type->get_ref<const std::string&>());
    }
    if (!t) {
      throw invalid_input("type", "must be one of client, datasource, listener");
    }
    req.type = *t;
  }
  if (const auto ttl = j.find("ttl"); ttl != j.end() && !ttl->is_null()) {
    req.ttl = parse_ttl(*ttl);
  }
  if (const auto claims = j.find("claims"); claims != j.end() && !claims->is_null()) {
    check_claims(*claims);
    req.claims = *claims;
  }
  return req;
}

nlohmann::json issue_token(const jwt_signer& signer, const token_request& req,
                           std::chrono::system_clock::time_point now) {
  check_claims(req.claims);
  const auto hex = detail::uuid_hex32(req.id);
  if (!hex) {
    throw invalid_input("id", "must be a UUID");
  }
  if (req.ttl.count() < 1 || static_cast<double>(req.ttl.count()) > max_ttl_seconds) {
    throw invalid_input("ttl", "must be between 1 second and 10 years");
  }
  const std::int64_t iat =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::int64_t exp = iat + req.ttl.count();

  nlohmann::json claims{{"iat", iat},
                        {"exp", exp},
                        {"aud", signer.audience()},
                        {"iss", signer.issuer()},
                        {"sub", *hex},
                        {"peer_type", to_string(req.type)}};
  nlohmann::json shown{{"peer_type", to_string(req.type)}};
  for (const auto& [name, value] : req.claims.items()) {
    claims[name] = value;
    shown[name] = value;
  }
  return nlohmann::json{{"token", signer.sign(claims)},
                        {"type", "bearer"},
                        {"details",
                         {{"id", dashed(*hex)},
                          {"type", to_string(req.type)},
                          {"expired", iso_utc(exp)},
                          {"claims", std::move(shown)}}}};
}

std::string make_uuid4() {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    detail::clear_openssl_errors();
    throw std::runtime_error("the random number generator failed");
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex;
  hex.reserve(32);
  for (unsigned char c : b) {
    hex += fmt::format("{:02x}", c);
  }
  return dashed(hex);
}

}  // namespace pdl::auth
