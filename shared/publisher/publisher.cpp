#include "shared/publisher/publisher.hpp"

#include <algorithm>
#include <cctype>
#include <thread>
#include <utility>
#include <variant>

#include "shared/auth/token_request.hpp"
#include "shared/http/client.hpp"

namespace pdl::publisher {
namespace {

constexpr std::uint64_t max_answer_bytes = 1024 * 1024;
constexpr std::size_t max_reason_chars = 500;
constexpr std::size_t max_id_chars = 256;
constexpr std::chrono::milliseconds first_poll_delay{20};
constexpr std::chrono::milliseconds max_poll_delay{500};
constexpr std::chrono::milliseconds min_request_timeout{1000};

std::string join_url(const std::string& base, const std::string& route) {
  std::string b = base;
  while (!b.empty() && b.back() == '/') {
    b.pop_back();
  }
  return route.empty() || route.front() == '/' ? b + route : b + "/" + route;
}

/** Replaces every occurrence of @p token in @p text (a server may echo what it was sent). */
std::string scrub(std::string text, const secret& token) {
  const auto& t = token.reveal();
  if (t.size() < 4) {  // too short to search for without mangling ordinary words
    return text;
  }
  for (auto pos = text.find(t); pos != std::string::npos; pos = text.find(t, pos)) {
    text.replace(pos, t.size(), "<redacted>");
  }
  return text;
}

std::string as_text(const nlohmann::json& v) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_object()) {
    // OPAL's auth errors are {"detail":{"error":...,"token":<what was sent>}}: keep the error.
    if (auto e = v.find("error"); e != v.end()) {
      return as_text(*e);
    }
    auto copy = v;
    copy.erase("token");
    return copy.dump();
  }
  return v.dump();
}

/** The server's reason, from {"detail":...} or {"error":...}, else the body's first bytes. */
std::string reason_of(const std::string& body) {
  std::string reason;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("detail")) {
    reason = as_text(doc["detail"]);
  } else if (!doc.is_discarded() && doc.is_object() && doc.contains("error")) {
    reason = as_text(doc["error"]);
  } else if (!doc.is_discarded()) {
    reason = as_text(doc);
  } else {
    reason = body;
  }
  for (char& c : reason) {
    if (static_cast<unsigned char>(c) < 0x20) {
      c = ' ';
    }
  }
  if (reason.size() > max_reason_chars) {
    reason = reason.substr(0, max_reason_chars) + "...";
  }
  return reason.empty() ? "(no reason given)" : reason;
}

struct answer {
  long status;
  nlohmann::json body;
};

/** One JSON exchange: POST when @p body is set, else GET. Non-2xx and non-object answers throw. */
answer call_json(const options& opts, const std::string& route, const secret& bearer,
                 std::optional<std::string> body, std::chrono::milliseconds timeout) {
  http_client::request req;
  req.method = body ? "POST" : "GET";
  req.url = join_url(opts.server_url, route);
  if (body) {
    req.headers.emplace_back("Content-Type", secret("application/json"));
  }
  req.headers.emplace_back("Accept", secret("application/json"));
  if (!bearer.empty()) {
    req.headers.emplace_back("Authorization", secret("Bearer " + bearer.reveal()));
  }
  req.body = std::move(body);
  req.connect_timeout = std::min(timeout, std::chrono::milliseconds(5000));
  req.idle_timeout = timeout;
  req.total_timeout = timeout;
  req.max_response_bytes = max_answer_bytes;
  req.ca_file = opts.ca_file;
  req.client_cert = opts.client_cert;
  req.client_key = opts.client_key;

  auto result = http_client::perform(req);
  const auto where = http_client::redact_url(req.url);
  if (auto* err = std::get_if<http_client::transport_error>(&result)) {
    throw publish_error(0, scrub("cannot reach the server: " + err->message, bearer));
  }
  auto& resp = std::get<http_client::response>(result);
  if (resp.status < 200 || resp.status >= 300) {
    throw publish_error(resp.status, scrub("HTTP " + std::to_string(resp.status) + " from " +
                                               where + ": " + reason_of(resp.body),
                                           bearer));
  }
  auto doc = nlohmann::json::parse(resp.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw publish_error(resp.status, "HTTP " + std::to_string(resp.status) + " from " + where +
                                         ": the answer is not a JSON object");
  }
  return {resp.status, std::move(doc)};
}

answer post_json(const options& opts, const std::string& route, const secret& bearer,
                 std::string body) {
  return call_json(opts, route, bearer, std::move(body), opts.timeout);
}

/** Percent-encodes everything but RFC 3986 unreserved characters: an id is one path segment. */
std::string path_segment(const std::string& id) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

/** Worth asking again: no answer, or a proxy/server saying "not now". */
bool transient(const publish_error& e) {
  return e.status() == 0 || e.status() == 502 || e.status() == 503 || e.status() == 504;
}

}  // namespace

client::client(options opts) : opts_(std::move(opts)) {}

publish_result client::publish(const model::data_update& update) const {
  model::validate(update);
  auto [status, doc] = post_json(opts_, opts_.route, opts_.token, model::to_json(update));
  if (auto s = doc.find("status"); s != doc.end() && *s != "ok") {
    throw publish_error(status, "the server answered status " + as_text(*s));
  }
  publish_result out;
  if (auto id = doc.find("id"); id != doc.end() && id->is_string()) {
    out.id = id->get<std::string>();
  } else if (update.id) {
    out.id = *update.id;
  }
  if (auto seq = doc.find("seq"); seq != doc.end() && seq->is_number_unsigned()) {
    out.seq = seq->get<std::uint64_t>();
  }
  out.body = std::move(doc);
  return out;
}

nlohmann::json client::obtain_token(const secret& master_token, const std::string& peer_type,
                                    double ttl_seconds, const nlohmann::json& claims) const {
  nlohmann::json req = {{"id", auth::make_uuid4()},
                        {"type", peer_type},
                        {"claims", claims.is_null() ? nlohmann::json::object() : claims}};
  if (ttl_seconds > 0) {
    req["ttl"] = ttl_seconds;
  }
  auto [status, doc] = post_json(opts_, "/token", master_token, req.dump());
  if (auto t = doc.find("token"); t == doc.end() || !t->is_string()) {
    throw publish_error(status, "the server's answer holds no token");
  }
  return doc;
}

delivery_status client::delivery(const std::string& id) const {
  return delivery_within(id, opts_.timeout);
}

delivery_status client::delivery_within(const std::string& id,
                                        std::chrono::milliseconds timeout) const {
  if (id.empty() || id.size() > max_id_chars) {
    throw publish_error(0, "an update id is 1 to 256 characters");
  }
  answer a;
  try {
    a = call_json(opts_, "/data/updates/" + path_segment(id), opts_.token, std::nullopt,
                  timeout);
  } catch (const publish_error& e) {
    if (e.status() == 404) {
      throw publish_error(404, "the server does not know update " + path_segment(id) +
                                   " (never accepted, no longer tracked, or a server without "
                                   "delivery status): " + e.what());
    }
    throw;
  }
  try {
    return parse_delivery_status(a.body);
  } catch (const std::invalid_argument& e) {
    throw publish_error(a.status, "malformed delivery status from the server: " +
                                      std::string(e.what()));
  }
}

delivery_status client::wait_for_delivery(const std::string& id,
                                          std::chrono::milliseconds timeout) const {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  auto delay = first_poll_delay;
  std::optional<delivery_status> last;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            clock::now());
    try {
      last = delivery_within(id, std::clamp(left, min_request_timeout,
                                            std::max(opts_.timeout, min_request_timeout)));
      if (last->complete) {
        return *last;
      }
    } catch (const publish_error& e) {
      if (!transient(e) || (clock::now() >= deadline && !last)) {
        throw;
      }
    }
    const auto now = clock::now();
    if (now >= deadline) {
      return *last;  // set: the only way here without one is the rethrow above
    }
    std::this_thread::sleep_for(std::min<clock::duration>(delay, deadline - now));
    delay = std::min(delay * 2, max_poll_delay);
  }
}

}  // namespace pdl::publisher
