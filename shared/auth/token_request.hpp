#pragma once
// POST /token: OPAL's AccessTokenRequest in, AccessToken out.
#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "shared/auth/jwt.hpp"

namespace pdl::auth {

struct token_request {
  std::string id;          // UUID with dashes, as given or generated (uuid4)
  peer_type type = peer_type::client;
  std::chrono::seconds ttl = std::chrono::hours(24 * 365);
  nlohmann::json claims = nlohmann::json::object();
};

/** Parses {"id"?, "type"?, "ttl"?, "claims"?}. ttl: number of seconds, ISO-8601 duration
 *  ("P30D", "PT1H30M"), or "[D ]HH:MM:SS" (pydantic v1 timedelta forms). Must be > 0 and at most
 *  10 years. claims: an object; reserved claims (iat, exp, nbf, aud, iss, sub, jti, peer_type)
 *  are refused, permitted_topics must be a list of strings.
 *  @throws pdl::model::invalid_input naming the field. */
token_request parse_token_request(std::string_view body);

/** Mints the JWT and builds OPAL's AccessToken answer:
 *  {"token":..., "type":"bearer", "details":{"id","type","expired","claims"}}.
 *  Claims: iat, exp = iat + ttl, aud, iss, sub = id without dashes, peer_type, then the request's
 *  extra claims (which cannot override the reserved ones). `expired` is ISO-8601 UTC. */
nlohmann::json issue_token(const jwt_signer& signer, const token_request& req,
                           std::chrono::system_clock::time_point now);

/** uuid4 as 8-4-4-4-12 lowercase hex. */
std::string make_uuid4();

}  // namespace pdl::auth
