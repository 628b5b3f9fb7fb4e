#include "tests/support/fake_opal_client.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <atomic>
#include <exception>
#include <mutex>
#include <random>
#include <regex>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "shared/http/client.hpp"
#include "shared/net.hpp"

namespace pdl::test {
namespace {

using ojson = nlohmann::ordered_json;
using header_list = std::vector<std::pair<std::string, std::string>>;

constexpr std::size_t max_frame_bytes = 64 * 1024 * 1024;
// What the recorded client sent (opal-wire-policy.md sections 2 and 3).
constexpr std::string_view websockets_agent = "Python/3.11 websockets/15.0.1";
constexpr std::string_view aiohttp_agent = "Python/3.11 aiohttp/3.8.4";

// ---- Python's json.dumps ------------------------------------------------------------------

void dump_string(std::string_view s, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  auto u16 = [&](unsigned v) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) {
      out += hex[(v >> shift) & 0xF];
    }
  };
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20) {
      u16(c);
      continue;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      continue;
    }
    // nlohmann has validated the UTF-8: decode one code point, write it as ensure_ascii does.
    const int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    unsigned cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
    for (int k = 1; k < len && i + 1 < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F);
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u16(0xD800 + (cp >> 10));
      u16(0xDC00 + (cp & 0x3FF));
    } else {
      u16(cp);
    }
  }
  out += '"';
}

void dump_python(const ojson& j, std::string& out) {
  switch (j.type()) {
    case ojson::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : j.items()) {
        out += first ? "" : ", ";
        first = false;
        dump_string(key, out);
        out += ": ";
        dump_python(value, out);
      }
      out += '}';
      return;
    }
    case ojson::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& value : j) {
        out += first ? "" : ", ";
        first = false;
        dump_python(value, out);
      }
      out += ']';
      return;
    }
    case ojson::value_t::string:
      dump_string(j.get_ref<const std::string&>(), out);
      return;
    default:
      out += j.dump();  // null, booleans, numbers: the same text as Python's
      return;
  }
}

std::string dumps(const ojson& j) {
  std::string out;
  dump_python(j, out);
  return out;
}

/** FastAPI's jsonable_encoder(exclude_none=True), which OPAL's store client applies to every
 *  data write: null-valued keys go at any depth, nulls inside arrays stay. */
ojson strip_nulls(const ojson& j) {
  if (j.is_object()) {
    ojson out = ojson::object();
    for (const auto& [key, value] : j.items()) {
      if (!value.is_null()) {
        out[key] = strip_nulls(value);
      }
    }
    return out;
  }
  if (j.is_array()) {
    ojson out = ojson::array();
    for (const auto& value : j) {
      out.push_back(strip_nulls(value));
    }
    return out;
  }
  return j;
}

// ---- OPAL's RPC frames --------------------------------------------------------------------

std::string new_call_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) {
      id += hex[v & 0xF];
    }
  }
  return id;
}

std::string request_frame(const std::string& method, ojson arguments, const std::string& id) {
  ojson request = ojson::object();
  request["method"] = method;
  request["arguments"] = std::move(arguments);
  request["call_id"] = id;
  ojson frame = ojson::object();
  frame["request"] = std::move(request);
  frame["response"] = nullptr;
  return dumps(frame);
}

/** The real client's answer to a notify: Python's None, stringified (opal-wire-policy.md 2). */
std::string none_response_frame(const std::string& id) {
  ojson response = ojson::object();
  response["result"] = "None";
  response["result_type"] = "str";
  response["call_id"] = id;
  ojson frame = ojson::object();
  frame["request"] = nullptr;
  frame["response"] = std::move(response);
  return dumps(frame);
}

// ---- small helpers ------------------------------------------------------------------------

std::string cut(const std::string& s, std::size_t n = 400) {
  return s.size() <= n ? s : s.substr(0, n) + "...(" + std::to_string(s.size()) + " bytes)";
}

/** A string member, or @p fallback when absent or null (pydantic's defaults). */
std::optional<std::string> string_or(const ojson& obj, const char* key, std::string fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return fallback;
  }
  if (!it->is_string()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::string query_escape(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/** The package a module declares ("" when none is found). */
std::string package_of(const std::string& rego) {
  static const std::regex package_line(R"((?:^|\n)[ \t]*package[ \t]+([^\s#]+))");
  std::smatch m;
  return std::regex_search(rego, m, package_line) ? m[1].str() : std::string();
}

bool is_root(const std::string& path) { return path.empty() || path == "." || path == "/"; }

}  // namespace

std::string python_json_dumps(const std::string& json_text) {
  return dumps(ojson::parse(json_text));
}

// ---- the shared state ---------------------------------------------------------------------

struct fake_opal_client::impl {
  explicit impl(options o) : opts(std::move(o)) {}

  const options opts;
  std::string host;  // from opts.server_url
  std::string port;
  std::atomic<bool> stopping{false};
  std::unique_ptr<connection> policy_conn;
  std::unique_ptr<connection> data_conn;

  mutable std::mutex m;
  // Guarded by m:
  counters stats;
  std::optional<bool> last_policy_ok;
  std::optional<bool> last_data_ok;
  std::string hash;
  std::vector<frame_record> frames;
  std::vector<request_record> requests;
  std::vector<handshake_record> handshakes;
  std::vector<std::string> problems;

  void problem(std::string what) {
    std::lock_guard lock(m);
    problems.push_back(std::move(what));
  }
  void record_frame(const std::string& conn, bool inbound, const std::string& text) {
    std::lock_guard lock(m);
    frames.push_back({conn, inbound, text});
  }
  void record_handshake(handshake_record h) {
    std::lock_guard lock(m);
    handshakes.push_back(std::move(h));
  }
  void count_notify() {
    std::lock_guard lock(m);
    ++stats.notifies;
  }
  void end_transaction(bool policy, bool ok) {
    std::lock_guard lock(m);
    if (policy) {
      ++(ok ? stats.policy_ok : stats.policy_failed);
      last_policy_ok = ok;
    } else {
      ++(ok ? stats.data_ok : stats.data_failed);
      last_data_ok = ok;
    }
  }

  /** aiohttp's default headers, as the recorded client sent them on every request. */
  static header_list aiohttp_headers() {
    return {{"Accept", "*/*"},
            {"Accept-Encoding", "gzip, deflate"},
            {"User-Agent", std::string(aiohttp_agent)}};
  }
  /** The headers of GET /policy (@p policy) and GET /data/config, in the recorded order. */
  header_list server_headers(bool policy) const {
    header_list h;
    if (policy) {
      h.emplace_back("content-type", "text/plain");
    }
    h.emplace_back("Authorization", "Bearer " + opts.token);
    for (auto& kv : aiohttp_headers()) {
      h.push_back(std::move(kv));
    }
    return h;
  }

  /** One blocking request, recorded. */
  request_record call_http(const std::string& conn, const std::string& method,
                           const std::string& url, header_list headers,
                           std::optional<std::string> body = std::nullopt) {
    request_record rec{conn, method, url, std::move(headers), body.value_or(""), 0, ""};
    http_client::request req;
    req.method = method;
    req.url = url;
    for (const auto& [name, value] : rec.headers) {
      req.headers.emplace_back(name, secret(value));
    }
    req.body = std::move(body);
    req.connect_timeout = opts.timeout;
    req.idle_timeout = opts.timeout;
    req.total_timeout = opts.timeout;
    req.max_redirects = 3;  // aiohttp follows redirects (an external data config source)
    auto r = http_client::perform(req);
    if (auto* ok = std::get_if<http_client::response>(&r)) {
      rec.status = ok->status;
      rec.response_body = std::move(ok->body);
    } else {
      rec.response_body = "no answer: " + std::get<http_client::transport_error>(r).message;
    }
    std::lock_guard lock(m);
    requests.push_back(rec);
    return rec;
  }

  static std::string outcome(const request_record& r) {
    std::string body = cut(r.response_body, 300);
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back())) != 0) {
      body.pop_back();
    }
    return r.method + " " + r.url + " -> " + std::to_string(r.status) + " " + body;
  }

  // ---- policy ---------------------------------------------------------------------------

  /** One policy transaction: GET /policy (with @p paths and the last hash), then apply it. */
  void fetch_and_apply_policy(const std::string& conn, const std::vector<std::string>& paths) {
    std::string query;
    for (const auto& p : paths) {
      query += (query.empty() ? "?" : "&") + std::string("path=") + query_escape(p);
    }
    {
      std::lock_guard lock(m);
      if (!hash.empty()) {
        query += (query.empty() ? "?" : "&") + std::string("base_hash=") + query_escape(hash);
      }
    }
    auto r = call_http(conn, "GET", opts.server_url + "/policy" + query, server_headers(true));
    if (r.status != 200) {
      problem(conn + ": policy bundle: " + outcome(r));
      end_transaction(true, false);
      return;
    }
    auto bundle = ojson::parse(r.response_body, nullptr, false);
    std::string why;
    if (bundle.is_discarded()) {
      why = "the answer is not JSON";
    } else if (apply_bundle(conn, bundle, why)) {
      std::lock_guard lock(m);
      hash = bundle["hash"].get<std::string>();
    }
    if (!why.empty()) {
      problem(conn + ": policy bundle from " + r.url + ": " + why);
    }
    end_transaction(true, why.empty());
  }

  /** OPAL's PolicyStoreClient.set_policies. @return false with @p why on the first failure. */
  bool apply_bundle(const std::string& conn, const ojson& b, std::string& why) {
    auto array_member = [&](const ojson& obj, const char* key) -> const ojson* {
      auto it = obj.find(key);
      return it != obj.end() && it->is_array() ? &*it : nullptr;
    };
    if (!b.is_object() || !b.contains("hash") || !b["hash"].is_string() ||
        !b.contains("old_hash") || !(b["old_hash"].is_null() || b["old_hash"].is_string()) ||
        array_member(b, "data_modules") == nullptr ||
        array_member(b, "policy_modules") == nullptr || !b.contains("deleted_files")) {
      why = "not a PolicyBundle: " + cut(b.dump(), 300);
      return false;
    }
    const bool full = b["old_hash"].is_null();
    const ojson* deleted = nullptr;
    if (!full && b["deleted_files"].is_object()) {
      deleted = &b["deleted_files"];
      if (array_member(*deleted, "data_modules") == nullptr ||
          array_member(*deleted, "policy_modules") == nullptr) {
        why = "deleted_files without data_modules and policy_modules arrays";
        return false;
      }
    } else if (!b["deleted_files"].is_null()) {
      why = full ? "a full bundle with deleted_files" : "deleted_files is not an object";
      return false;
    }
    const std::string store = opts.store_url;
    auto expect = [&](const request_record& r, std::initializer_list<long> accepted) {
      if (std::find(accepted.begin(), accepted.end(), r.status) != accepted.end()) {
        return true;
      }
      why = outcome(r);
      return false;
    };
    auto data_url = [&](const std::string& path) {
      return is_root(path) ? store + "/v1/data" : store + "/v1/data/" + path;
    };
    auto store_headers = [](const char* content_type) {
      header_list h = aiohttp_headers();
      if (content_type != nullptr) {
        h.emplace_back("Content-Type", content_type);
      }
      return h;
    };

    std::vector<std::string> stale_policies;  // a full bundle's: in the store, not in the bundle
    if (full) {
      auto r = call_http(conn, "GET", store + "/v1/policies", store_headers(nullptr));
      if (!expect(r, {200})) {
        return false;
      }
      auto listed = ojson::parse(r.response_body, nullptr, false);
      if (listed.is_discarded() || !listed.is_object() || !listed.contains("result") ||
          !listed["result"].is_array()) {
        why = "GET /v1/policies: not a policy list: " + cut(r.response_body, 300);
        return false;
      }
      for (const auto& module : listed["result"]) {
        if (!module.is_object()) {
          continue;
        }
        const std::string id = module.value("id", "");
        const std::string raw = module.value("raw", "");
        if (id.empty() || package_of(raw).rfind("system.", 0) == 0) {
          continue;  // OPAL leaves system.* packages (its healthcheck policy) alone
        }
        bool in_bundle = false;
        for (const auto& pm : b["policy_modules"]) {
          in_bundle = in_bundle || (pm.is_object() && pm.value("path", "") == id);
        }
        if (!in_bundle) {
          stale_policies.push_back(id);
        }
      }
    }
    for (const auto& dm : b["data_modules"]) {
      if (!dm.is_object() || !dm.contains("path") || !dm["path"].is_string() ||
          !dm.contains("data") || !dm["data"].is_string()) {
        why = "a data module without string path and data: " + cut(dm.dump(), 300);
        return false;
      }
      auto parsed = ojson::parse(dm["data"].get<std::string>(), nullptr, false);
      if (parsed.is_discarded()) {
        why = "data module " + dm["path"].get<std::string>() + ": data is not JSON";
        return false;
      }
      auto r = call_http(conn, "PUT", data_url(dm["path"].get<std::string>()),
                    store_headers("text/plain; charset=utf-8"), dumps(strip_nulls(parsed)));
      if (!expect(r, {204, 304})) {
        return false;
      }
    }
    if (deleted != nullptr) {
      for (const auto& path : (*deleted)["data_modules"]) {
        if (!path.is_string()) {
          why = "deleted_files.data_modules holds a non-string";
          return false;
        }
        const std::string p = path.get<std::string>();
        // OPAL deletes the root document by writing {} over it.
        auto r = is_root(p) ? call_http(conn, "PUT", data_url(p),
                                        store_headers("text/plain; charset=utf-8"), "{}")
                            : call_http(conn, "DELETE", data_url(p), store_headers(nullptr), "");
        if (!expect(r, {204, 404})) {
          return false;
        }
      }
    }
    for (const auto& pm : b["policy_modules"]) {
      if (!pm.is_object() || !pm.contains("path") || !pm["path"].is_string() ||
          !pm.contains("rego") || !pm["rego"].is_string()) {
        why = "a policy module without string path and rego: " + cut(pm.dump(), 300);
        return false;
      }
      auto r = call_http(conn, "PUT", store + "/v1/policies/" + pm["path"].get<std::string>(),
                    store_headers("text/plain"), pm["rego"].get<std::string>());
      if (!expect(r, {200})) {
        return false;
      }
    }
    std::vector<std::string> to_delete = stale_policies;
    if (deleted != nullptr) {
      for (const auto& id : (*deleted)["policy_modules"]) {
        if (!id.is_string()) {
          why = "deleted_files.policy_modules holds a non-string";
          return false;
        }
        to_delete.push_back(id.get<std::string>());
      }
    }
    for (const auto& id : to_delete) {
      auto r = call_http(conn, "DELETE", store + "/v1/policies/" + id, store_headers(nullptr), "");
      if (!expect(r, {200, 404})) {
        return false;
      }
    }
    return true;
  }

  /** A notify on a policy topic: its data is a PolicyUpdateMessage. */
  void on_policy_notify(const std::string& conn, const ojson& data) {
    if (!data.is_object() || !data.contains("old_policy_hash") ||
        !data.contains("new_policy_hash") || !data.contains("changed_directories") ||
        !data["changed_directories"].is_array()) {
      // The real client answers and fetches nothing (opal-wire-policy.md section 2).
      problem(conn + ": a policy notify that is not a PolicyUpdateMessage: " + cut(data.dump()));
      return;
    }
    // The request names the subscribed directories that changed; none: no path parameter.
    std::vector<std::string> paths;
    for (const auto& dir : opts.policy_directories) {
      for (const auto& changed : data["changed_directories"]) {
        if (changed.is_string() && changed.get<std::string>() == dir) {
          paths.push_back(dir);
          break;
        }
      }
    }
    fetch_and_apply_policy(conn, paths);
  }

  // ---- data -----------------------------------------------------------------------------

  /** GET /data/config, then its entries as one DataUpdate. */
  void load_base_data(const std::string& conn) {
    auto r = call_http(conn, "GET", opts.server_url + "/data/config", server_headers(false));
    if (r.status != 200) {
      problem(conn + ": base data config: " + outcome(r));
      return;
    }
    auto config = ojson::parse(r.response_body, nullptr, false);
    if (config.is_discarded() || !config.is_object() || !config.contains("entries") ||
        !config["entries"].is_array()) {
      problem(conn + ": base data config is not a DataSourceConfig: " + cut(r.response_body));
      return;
    }
    apply_data_update(conn, config);
  }

  /** A DataUpdate: one data transaction per entry on one of our topics (OPAL's updater). */
  void apply_data_update(const std::string& conn, const ojson& update) {
    if (!update.is_object() || !update.contains("entries") || !update["entries"].is_array()) {
      problem(conn + ": not a DataUpdate: " + cut(update.dump()));
      return;
    }
    for (const auto& entry : update["entries"]) {
      if (!entry.is_object()) {
        problem(conn + ": an entry that is not an object: " + cut(entry.dump()));
        end_transaction(false, false);
        continue;
      }
      ojson topics = entry.contains("topics") && !entry["topics"].is_null()
                         ? entry["topics"]
                         : ojson::array({"policy_data"});
      bool ours = false;
      for (const auto& t : topics) {
        ours = ours || (t.is_string() && std::find(opts.data_topics.begin(), opts.data_topics.end(),
                                                   t.get<std::string>()) != opts.data_topics.end());
      }
      if (!ours) {
        continue;
      }
      std::string why;
      write_entry(conn, entry, why);
      if (!why.empty()) {
        problem(conn + ": data entry " + cut(entry.dump(), 200) + ": " + why);
      }
      end_transaction(false, why.empty());
    }
  }

  /** Gets an entry's data (inline or fetched) and writes it to the store; @p why on failure. */
  void write_entry(const std::string& conn, const ojson& entry, std::string& why) {
    ojson data;
    if (entry.contains("data") && !entry["data"].is_null()) {
      data = entry["data"];
    } else {
      auto url = string_or(entry, "url", "");
      if (!url || url->empty()) {
        why = "no inline data and no url";
        return;
      }
      header_list headers = aiohttp_headers();
      if (auto cfg = entry.find("config"); cfg != entry.end() && cfg->is_object()) {
        if (auto h = cfg->find("headers"); h != cfg->end() && h->is_object()) {
          for (const auto& [name, value] : h->items()) {
            if (value.is_string()) {
              headers.emplace_back(name, value.get<std::string>());
            }
          }
        }
      }
      auto r = call_http(conn, "GET", *url, std::move(headers));
      if (r.status == 0 || r.status >= 400) {
        why = "fetch: " + outcome(r);
        return;
      }
      data = ojson::parse(r.response_body, nullptr, false);
      if (data.is_discarded() || data.is_null()) {
        why = "fetch: the answer is not JSON (or null): " + cut(r.response_body, 200);
        return;
      }
    }
    auto dst = string_or(entry, "dst_path", "");
    auto method = string_or(entry, "save_method", "PUT");
    if (!dst || !method) {
      why = "dst_path or save_method is not a string";
      return;
    }
    std::string path = *dst;
    if (!path.empty() && path.front() != '/') {
      path.insert(path.begin(), '/');
    }
    const bool root = path.empty() || path == "/.";
    const std::string url = opts.store_url + "/v1/data" + (root ? std::string() : path);
    request_record r;
    if (*method == "PUT") {
      ojson body = strip_nulls(data);
      if (root && body.is_array()) {
        body = ojson{{"items", std::move(body)}};  // OPAL's wrap of a list at the root
      }
      header_list h = aiohttp_headers();
      h.emplace_back("Content-Type", "text/plain; charset=utf-8");
      r = call_http(conn, "PUT", url, std::move(h), dumps(body));
    } else {
      header_list h = aiohttp_headers();
      h.emplace_back("Content-Type", "application/json-patch+json");
      r = call_http(conn, "PATCH", url, std::move(h), dumps(strip_nulls(data)));
    }
    if (r.status != 204 && r.status != 304) {
      why = "store write: " + outcome(r);
    }
  }
};

// ---- one WebSocket connection -------------------------------------------------------------

class fake_opal_client::connection {
 public:
  enum class kind { policy, data };

  connection(impl& owner, kind k)
      : owner_(owner), kind_(k), name_(k == kind::policy ? "policy" : "data"), ws_(ioc_) {}
  ~connection() { stop(); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void start() {
    // The handler outlives nothing it captures: the thread runs the io_context to completion
    // and is joined in stop(), before this object goes.
    net::co_spawn(ioc_, run(), [this](std::exception_ptr ep) { on_end(ep); });
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void stop() {
    if (!thread_.joinable()) {
      return;
    }
    net::post(ioc_, [this] { beast::get_lowest_layer(ws_).close(); });
    thread_.join();
  }

 private:
  net::awaitable<void> run() {
    auto& tcp_layer = beast::get_lowest_layer(ws_);
    step_ = "connect";
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(owner_.host, owner_.port);
    tcp_layer.expires_after(owner_.opts.timeout);
    co_await tcp_layer.async_connect(endpoints, net::use_awaitable);

    step_ = "handshake";
    websocket::permessage_deflate deflate;
    deflate.client_enable = true;  // offered, as the real client does; the server may decline
    ws_.set_option(deflate);
    ws_.set_option(websocket::stream_base::decorator(
        [token = owner_.opts.token](websocket::request_type& req) {
          req.set(http::field::authorization, "Bearer " + token);
          req.set(http::field::user_agent, websockets_agent);
        }));
    ws_.read_message_max(max_frame_bytes);
    websocket::response_type answer;
    beast::error_code ec;
    tcp_layer.expires_after(owner_.opts.timeout);
    co_await ws_.async_handshake(answer, owner_.host + ":" + owner_.port, "/ws",
                                 net::redirect_error(net::use_awaitable, ec));
    // A refusal is upgrade_declined with the refusing answer read; other errors read none.
    const bool answered = !ec || ec == websocket::error::upgrade_declined;
    handshake_record h{name_, answered ? static_cast<int>(answer.result_int()) : 0, {}};
    for (const auto& field : answer) {
      h.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    const int status = h.status;
    owner_.record_handshake(std::move(h));
    if (ec) {
      throw std::runtime_error("refused with " + std::to_string(status) + " (" + ec.message() +
                               ")");
    }
    ws_.text(true);

    step_ = "_ping_";
    // Arguments are built before each co_await: GCC 12 cannot keep a braced list's or a string
    // literal's temporaries in a coroutine frame ("array used as initializer").
    std::string method = "_ping_";
    ojson arguments = ojson::object();
    ojson pong = co_await call(method, arguments);
    if (pong.value("result", ojson()) != "pong") {
      owner_.problem(name_ + ": _ping_ answered " + pong.dump() + ", not \"pong\"");
    }
    step_ = "subscribe";
    ojson topics = ojson::array();
    if (kind_ == kind::policy) {
      for (const auto& dir : owner_.opts.policy_directories) {
        topics.push_back("policy:" + dir);
      }
    } else {
      for (const auto& t : owner_.opts.data_topics) {
        topics.push_back(t);
      }
    }
    method = "subscribe";
    arguments = ojson::object();
    arguments["topics"] = topics;
    ojson subscribed = co_await call(method, arguments);
    if (subscribed.value("result", ojson()) != true) {
      throw std::runtime_error("answered " + subscribed.dump() + ", not true");
    }

    step_ = kind_ == kind::policy ? "initial policy bundle" : "base data";
    if (kind_ == kind::policy) {
      owner_.fetch_and_apply_policy(name_, owner_.opts.policy_directories);
    } else {
      owner_.load_base_data(name_);
    }
    step_ = "reading";
    for (;;) {
      tcp_layer.expires_never();  // notifies come whenever they come; stop() closes
      ojson frame = co_await read_frame();
      co_await on_frame(frame);
    }
  }

  net::awaitable<void> send(std::string text) {
    owner_.record_frame(name_, false, text);
    beast::get_lowest_layer(ws_).expires_after(owner_.opts.timeout);
    co_await ws_.async_write(net::buffer(text), net::use_awaitable);
  }

  net::awaitable<ojson> read_frame() {
    beast::flat_buffer buf;
    co_await ws_.async_read(buf, net::use_awaitable);
    std::string text = beast::buffers_to_string(buf.data());
    owner_.record_frame(name_, true, text);
    auto frame = ojson::parse(text, nullptr, false);
    if (frame.is_discarded() || !frame.is_object()) {
      owner_.problem(name_ + ": a frame that is not a JSON object: " + cut(text));
      co_return ojson::object();
    }
    co_return frame;
  }

  /** Sends a request, reads until its answer (handling notifies meanwhile), returns the
   *  `response` object. The socket is closed if no answer comes within options::timeout. */
  net::awaitable<ojson> call(std::string method, ojson arguments) {
    const std::string id = new_call_id();
    co_await send(request_frame(method, std::move(arguments), id));
    const auto deadline = std::chrono::steady_clock::now() + owner_.opts.timeout;
    for (;;) {
      beast::get_lowest_layer(ws_).expires_at(deadline);
      ojson frame = co_await read_frame();
      auto resp = frame.find("response");
      if (resp != frame.end() && resp->is_object() && resp->value("call_id", "") == id) {
        co_return *resp;
      }
      co_await on_frame(frame);
    }
  }

  net::awaitable<void> on_frame(const ojson& frame) {
    auto req = frame.find("request");
    if (req == frame.end() || !req->is_object()) {
      if (frame.contains("response")) {
        owner_.problem(name_ + ": an answer to no pending call: " + cut(frame.dump()));
      }
      co_return;
    }
    const std::string method = req->value("method", "");
    const std::string id = req->value("call_id", "");
    if (method != "notify") {
      owner_.problem(name_ + ": a request the client does not serve: " + cut(frame.dump()));
      co_return;
    }
    // Answered first: the real client replies, then works in a background task.
    co_await send(none_response_frame(id));
    owner_.count_notify();
    const ojson args = req->value("arguments", ojson::object());
    const ojson sub = args.value("subscription", ojson::object());
    const std::string topic = sub.is_object() ? sub.value("topic", "") : "";
    const ojson data = args.value("data", ojson());
    if (kind_ == kind::policy && topic.rfind("policy:", 0) == 0) {
      owner_.on_policy_notify(name_, data);
    } else if (kind_ == kind::data) {
      owner_.apply_data_update(name_, data);
    } else {
      owner_.problem(name_ + ": a notify on topic \"" + topic + "\"");
    }
  }

  void on_end(std::exception_ptr ep) {
    if (owner_.stopping) {
      return;
    }
    std::string why = "the coroutine ended";
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const beast::system_error& e) {
        why = e.code() == beast::error::timeout
                  ? "no answer within " + std::to_string(owner_.opts.timeout.count()) + " ms"
                  : e.code().message();
      } catch (const std::exception& e) {
        why = e.what();
      }
    }
    owner_.problem(name_ + " connection, " + step_ + ": " + why);
  }

  impl& owner_;
  const kind kind_;
  const std::string name_;
  std::string step_;  // for on_end's message; touched only on the connection's thread
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  std::thread thread_;
};

// ---- fake_opal_client ---------------------------------------------------------------------

fake_opal_client::fake_opal_client(options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}

fake_opal_client::~fake_opal_client() { stop(); }

void fake_opal_client::start() {
  const std::string& u = impl_->opts.server_url;
  constexpr std::string_view scheme = "http://";
  const auto colon = u.rfind(':');
  if (u.rfind(scheme, 0) != 0 || colon == std::string::npos || colon < scheme.size() ||
      u.find('/', scheme.size()) != std::string::npos) {
    throw std::invalid_argument("fake_opal_client: server_url must be http://host:port, got " + u);
  }
  impl_->host = u.substr(scheme.size(), colon - scheme.size());
  impl_->port = u.substr(colon + 1);
  impl_->policy_conn = std::make_unique<connection>(*impl_, connection::kind::policy);
  impl_->data_conn = std::make_unique<connection>(*impl_, connection::kind::data);
  impl_->policy_conn->start();
  impl_->data_conn->start();
}

void fake_opal_client::stop() {
  impl_->stopping = true;
  if (impl_->policy_conn) {
    impl_->policy_conn->stop();
  }
  if (impl_->data_conn) {
    impl_->data_conn->stop();
  }
}

bool fake_opal_client::ready() const {
  std::lock_guard lock(impl_->m);
  return impl_->stats.policy_ok > 0 && impl_->stats.data_ok > 0;
}

bool fake_opal_client::healthy() const {
  std::lock_guard lock(impl_->m);
  return impl_->last_policy_ok.value_or(false) && impl_->last_data_ok.value_or(false);
}

fake_opal_client::counters fake_opal_client::stats() const {
  std::lock_guard lock(impl_->m);
  return impl_->stats;
}

std::string fake_opal_client::last_hash() const {
  std::lock_guard lock(impl_->m);
  return impl_->hash;
}

std::vector<fake_opal_client::frame_record> fake_opal_client::frames() const {
  std::lock_guard lock(impl_->m);
  return impl_->frames;
}

std::vector<fake_opal_client::request_record> fake_opal_client::requests() const {
  std::lock_guard lock(impl_->m);
  return impl_->requests;
}

std::vector<fake_opal_client::handshake_record> fake_opal_client::handshakes() const {
  std::lock_guard lock(impl_->m);
  return impl_->handshakes;
}

std::vector<std::string> fake_opal_client::problems() const {
  std::lock_guard lock(impl_->m);
  return impl_->problems;
}

std::string fake_opal_client::describe() const {
  std::lock_guard lock(impl_->m);
  const auto& s = impl_->stats;
  std::string out = "\n--- fake OPAL client: policy ok/failed " + std::to_string(s.policy_ok) +
                    "/" + std::to_string(s.policy_failed) + ", data ok/failed " +
                    std::to_string(s.data_ok) + "/" + std::to_string(s.data_failed) +
                    ", notifies " + std::to_string(s.notifies) + ", hash \"" + impl_->hash +
                    "\"\nproblems:";
  for (const auto& p : impl_->problems) {
    out += "\n  " + p;
  }
  out += "\nhandshakes:";
  for (const auto& h : impl_->handshakes) {
    out += "\n  " + h.connection + ": " + std::to_string(h.status);
  }
  out += "\nrequests:";
  for (const auto& r : impl_->requests) {
    out += "\n  [" + r.connection + "] " + impl::outcome(r);
  }
  out += "\nframes:";
  for (const auto& f : impl_->frames) {
    out += "\n  [" + f.connection + (f.inbound ? "] S->C " : "] C->S ") + cut(f.text, 300);
  }
  return out + "\n";
}

}  // namespace pdl::test
