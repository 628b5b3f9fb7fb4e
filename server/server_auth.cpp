#include "server/server_auth.hpp"

#include <algorithm>
#include <cctype>

#include "shared/config/config_error.hpp"
#include "shared/log/log.hpp"

namespace pdl::server {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("server.auth");
  return l;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct loaded_keys {
  std::optional<auth::rsa_key> priv;
  std::optional<auth::rsa_key> pub;
};

loaded_keys load_keys(const config::server_config& cfg) {
  std::vector<config::problem> problems;
  loaded_keys k;
  if (!cfg.private_key.empty()) {
    try {
      k.priv = auth::rsa_key::load_private(cfg.private_key, cfg.private_key_format,
                                           cfg.private_key_passphrase);
    } catch (const std::exception& e) {
      problems.push_back({"auth.private_key", e.what()});
    }
  }
  if (!cfg.public_key.empty()) {
    try {
      k.pub = auth::rsa_key::load_public(cfg.public_key, cfg.public_key_format);
    } catch (const std::exception& e) {
      problems.push_back({"auth.public_key", e.what()});
    }
  }
  if (problems.empty()) {
    if (!cfg.public_key.empty() && cfg.private_key.empty()) {
      problems.push_back({"auth.private_key",
                          "a public key without its private key cannot sign tokens: set "
                          "OPAL_AUTH_PRIVATE_KEY too, or neither"});
    } else if (k.priv && k.pub && !k.priv->same_public(*k.pub)) {
      problems.push_back({"auth.public_key", "does not match auth.private_key"});
    }
  }
  if (!problems.empty()) {
    throw config::config_error(std::move(problems));
  }
  return k;
}

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  auto sp = authorization.find(' ');
  if (sp == std::string_view::npos || !iequals(authorization.substr(0, sp), "bearer")) {
    return std::nullopt;
  }
  std::string_view tok = authorization.substr(sp + 1);
  while (!tok.empty() && tok.front() == ' ') {
    tok.remove_prefix(1);
  }
  while (!tok.empty() && tok.back() == ' ') {
    tok.remove_suffix(1);
  }
  if (tok.empty()) {
    return std::nullopt;
  }
  return tok;
}

std::optional<std::string> first_forbidden_topic(
    const std::vector<std::string>& topics,
    const std::optional<std::vector<std::string>>& permitted) {
  if (!permitted) {
    return std::nullopt;
  }
  for (const auto& t : topics) {
    bool ok = std::any_of(permitted->begin(), permitted->end(), [&](const std::string& p) {
      return !p.empty() && (t == p || (t.size() > p.size() && t.compare(0, p.size(), p) == 0 &&
                                       t[p.size()] == '/'));
    });
    if (!ok) {
      return t;
    }
  }
  return std::nullopt;
}

void server_auth::check_keys(const config::server_config& cfg) {
  (void)load_keys(cfg);
}

std::unique_ptr<server_auth> server_auth::create(const config::server_config& cfg) {
  loaded_keys k = load_keys(cfg);
  bool ephemeral = false;
  if (!k.priv) {
    logger()->warn("ephemeral key pair: tokens will not survive a restart "
                   "(set OPAL_AUTH_PRIVATE_KEY to keep them valid)");
    k.priv = auth::rsa_key::generate();
    ephemeral = true;
  }
  if (!cfg.auth_enabled) {
    logger()->warn("authentication is DISABLED (auth.enabled=false): every token check passes");
  }
  if (cfg.master_token.empty()) {
    logger()->warn("no master token configured: POST /token is disabled");
  }
  return std::make_unique<server_auth>(std::move(*k.priv), ephemeral, cfg);
}

server_auth::server_auth(auth::rsa_key key, bool ephemeral, const config::server_config& cfg)
    : enabled_(cfg.auth_enabled),
      ephemeral_(ephemeral),
      master_token_(cfg.master_token),
      signer_(key, cfg.jwt_issuer, cfg.jwt_audience),
      verifier_({key}, cfg.jwt_issuer, cfg.jwt_audience) {}

nlohmann::json server_auth::jwks() const {
  return {{"keys", nlohmann::json::array({signer_.key().public_jwk()})}};
}

std::variant<caller, auth_failure> server_auth::check_bearer(std::string_view authorization) const {
  if (!enabled_) {
    caller c;
    c.auth_disabled = true;
    return c;
  }
  if (authorization.empty()) {
    return auth_failure{401, "access token was not provided"};
  }
  auto tok = bearer_token(authorization);
  if (!tok) {
    return auth_failure{401, "expected an 'Authorization: Bearer <token>' header"};
  }
  auto result = verifier_.verify(*tok);
  if (auto* err = std::get_if<auth::verify_error>(&result)) {
    logger()->debug("token refused: {}", err->message);
    return auth_failure{401, "invalid access token: " + err->message};
  }
  auto& v = std::get<auth::verified_token>(result);
  caller c;
  c.peer = v.peer;
  c.permitted_topics = std::move(v.permitted_topics);
  c.subject = std::move(v.subject);
  return c;
}

std::optional<auth_failure> server_auth::check_master(std::string_view authorization) const {
  if (master_token_.empty()) {
    return auth_failure{503, "token issuing is disabled: no master token configured"};
  }
  auto tok = bearer_token(authorization);
  if (!tok || !auth::constant_time_equals(*tok, master_token_.reveal())) {
    return auth_failure{401, "unauthorized to access this endpoint!"};
  }
  return std::nullopt;
}

}  // namespace pdl::server
