#include "agent/opa_store.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "shared/http/client.hpp"
#include "shared/log/log.hpp"
#include "shared/model/errors.hpp"
#include "shared/model/paths.hpp"
#include "shared/model/utf8.hpp"

namespace pdl::agent {
namespace {

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

/** "<code>: <message>" from an OPA error body, or a bounded excerpt when it is not one. */
std::string engine_message(const std::string& body) {
  try {
    const auto j = nlohmann::json::parse(body);
    std::string out;
    if (j.contains("code") && j["code"].is_string()) {
      out = j["code"].get<std::string>();
    }
    if (j.contains("message") && j["message"].is_string()) {
      out += (out.empty() ? "" : ": ") + j["message"].get<std::string>();
    }
    if (!out.empty()) {
      return out;
    }
  } catch (const nlohmann::json::exception&) {
  }
  // The engine's bytes end up in an acknowledgement's JSON: cut on a character boundary and
  // repaired, or encoding that acknowledgement would throw.
  std::string excerpt = model::truncate_utf8(body, 200);
  while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == ' ')) {
    excerpt.pop_back();
  }
  return excerpt.empty() ? "(no body)" : excerpt;
}

}  // namespace

opa_store::opa_store(opa_store_options options) : options_(std::move(options)) {
  while (!options_.url.empty() && options_.url.back() == '/') {
    options_.url.pop_back();
  }
}

void opa_store::put(std::string_view dst_path, const store_body& body) {
  write("PUT", "application/json", dst_path, body);
}

void opa_store::patch(std::string_view dst_path, const store_body& body) {
  write("PATCH", "application/json-patch+json", dst_path, body);
}

void opa_store::write(const char* method, const char* content_type, std::string_view dst_path,
                      const store_body& body) {
  http_client::request req;
  http_client::use_tls(req, options_.tls);
  req.connections = connections_;  // kept alive between writes
  req.method = method;
  try {
    req.url = options_.url + model::opa_data_url_path(dst_path);
  } catch (const model::invalid_input& e) {
    throw store_error(std::string("invalid dst_path: ") + e.what());
  }
  req.headers.emplace_back("Content-Type", secret(content_type));
  if (!options_.token.empty()) {
    req.headers.emplace_back("Authorization", secret("Bearer " + options_.token.reveal()));
  }
  req.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(5000));
  req.idle_timeout = options_.timeout;
  req.max_response_bytes = 64 * 1024;  // OPA's answers to writes are tiny

  std::unique_ptr<std::FILE, file_closer> file;
  if (body.is_file()) {
    file.reset(std::fopen(body.file_path.c_str(), "rb"));
    if (!file) {
      throw store_error("cannot read the fetched data back from its temp file");
    }
    req.upload_size = static_cast<std::int64_t>(body.size);
    req.body_source = [f = file.get()](char* buf, std::size_t max) {
      return std::fread(buf, 1, max, f);
    };
  } else {
    req.body = std::string(body.text);
  }

  auto result = http_client::perform(req);
  if (auto* err = std::get_if<http_client::transport_error>(&result)) {
    throw store_error("policy store unreachable: " + err->message, 0,
                      err->what == http_client::transport_error::code::timeout);
  }
  const auto& resp = std::get<http_client::response>(result);
  if (resp.status == 204 || resp.status == 304) {
    return;
  }
  throw store_error("policy store answered HTTP " + std::to_string(resp.status) + ": " +
                        engine_message(resp.body),
                    resp.status);
}

std::optional<std::string> opa_store::get(std::string_view dst_path) {
  http_client::request req;
  http_client::use_tls(req, options_.tls);
  req.connections = connections_;  // kept alive between writes
  try {
    req.url = options_.url + model::opa_data_url_path(dst_path);
  } catch (const model::invalid_input& e) {
    throw store_error(std::string("invalid dst_path: ") + e.what());
  }
  if (!options_.token.empty()) {
    req.headers.emplace_back("Authorization", secret("Bearer " + options_.token.reveal()));
  }
  req.connect_timeout = options_.health_timeout;
  req.idle_timeout = options_.health_timeout;
  req.total_timeout = std::max(options_.health_timeout, std::chrono::milliseconds(5000));
  req.max_response_bytes = 1024 * 1024;
  auto result = http_client::perform(req);
  if (auto* err = std::get_if<http_client::transport_error>(&result)) {
    throw store_error("policy store unreachable: " + err->message);
  }
  const auto& resp = std::get<http_client::response>(result);
  if (resp.status != 200) {
    throw store_error("policy store answered HTTP " + std::to_string(resp.status) + ": " +
                          engine_message(resp.body),
                      resp.status);
  }
  const auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (!j.is_object()) {
    throw store_error("policy store answered GET with something other than a JSON object", 200);
  }
  const auto it = j.find("result");
  if (it == j.end()) {
    return std::nullopt;
  }
  return it->dump();
}

bool opa_store::health() {
  http_client::request req;
  http_client::use_tls(req, options_.tls);
  req.connections = connections_;  // kept alive between writes
  req.url = options_.url + "/health";
  req.connect_timeout = options_.health_timeout;
  req.idle_timeout = options_.health_timeout;
  req.total_timeout = options_.health_timeout;
  req.max_response_bytes = 64 * 1024;
  std::string error;
  try {
    auto result = http_client::perform(req);
    if (const auto* err = std::get_if<http_client::transport_error>(&result)) {
      error = err->message;  // the client redacts URLs; e.g. "certificate verify failed"
    } else if (std::get<http_client::response>(result).status != 200) {
      error = "GET /health answered " +
              std::to_string(std::get<http_client::response>(result).status);
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard lock(health_mu_);
  if (!error.empty() && error != last_health_error_) {
    // Why the engine is unreachable (a TLS failure, a refused connection), once per reason.
    SPDLOG_LOGGER_WARN(log::get("agent.store"), "policy store health check failed: {}", error);
  }
  last_health_error_ = error;
  return error.empty();
}

}  // namespace pdl::agent
