// The blocking client on libcurl's easy interface: one easy handle per hop, redirects followed
// here so each hop is checked (client.hpp). libcurl's messages (its error buffer) name hosts
// and ports but never the URL's userinfo or query; ours append redact_url() of the request.
#include "shared/http/client.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>

#include "shared/http/url.hpp"

namespace pdl::http_client {
namespace {

using steady = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                        s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool valid_header(const std::string& name, const std::string& value) {
  if (name.empty()) {
    return false;
  }
  for (unsigned char c : name) {
    if (c <= ' ' || c == ':' || c >= 0x7f) {
      return false;
    }
  }
  return value.find_first_of("\r\n") == std::string::npos && value.find('\0') == std::string::npos;
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/** libcurl's global state, set up once: curl_global_init is not safe to race. Never cleaned
 *  up (threads may still be in perform() at exit). */
void global_init() {
  static const CURLcode once = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)once;
}

struct easy_deleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using easy_ptr = std::unique_ptr<CURL, easy_deleter>;
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

struct failure {
  transport_error::code what;
  std::string detail;
};

std::string address_text(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (addr->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text, sizeof text);
  } else if (addr->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text,
                sizeof text);
  }
  return text;
}

/** What one hop's callbacks share with the code around curl_easy_perform. */
struct hop {
  hop(const request& r, const body_sink& s) : req(r), sink(s) {}
  const request& req;
  const body_sink& sink;
  CURL* handle = nullptr;
  bool may_follow = false;             // a redirect answer to this hop would be followed
  response resp;
  // Response side.
  bool body_started = false;
  bool discard = false;                // the body of a redirect that will be followed
  std::uint64_t received = 0;
  bool too_large = false;
  bool sink_refused = false;
  std::exception_ptr error;            // thrown by the sink or the body source
  // Upload side.
  const std::string* memory_body = nullptr;
  std::size_t memory_at = 0;
  bool streamed = false;
  std::uint64_t sent = 0;
  bool short_upload = false;
  // Idle timeout.
  curl_off_t last_down = -1;
  curl_off_t last_up = -1;
  steady::time_point last_progress{};
  bool connected = false;
  bool idle_expired = false;
  // Source rules.
  bool refused = false;                // some address was refused
  bool allowed = false;                // some address was allowed: a failure is then its own
  std::string refused_why;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& h = *static_cast<hop*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    h.resp.headers.clear();  // a 1xx answer's or a new response's head: only the last one counts
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return n;  // the blank line ending the head, or an obsolete folded line
  }
  h.resp.headers.emplace_back(lower(line.substr(0, colon)),
                              std::string(trim(line.substr(colon + 1))));
  return n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& h = *static_cast<hop*>(user);
  const std::size_t n = size * count;
  if (!h.body_started) {
    h.body_started = true;
    curl_easy_getinfo(h.handle, CURLINFO_RESPONSE_CODE, &h.resp.status);
    char* location = nullptr;
    curl_easy_getinfo(h.handle, CURLINFO_REDIRECT_URL, &location);
    h.discard = h.may_follow && is_redirect(h.resp.status) && location != nullptr;
  }
  if (h.received + n > h.req.max_response_bytes) {
    h.too_large = true;
    return 0;
  }
  h.received += n;
  if (h.discard) {
    return n;
  }
  h.resp.body_bytes = h.received;
  if (!h.sink) {
    h.resp.body.append(data, n);
    return n;
  }
  try {
    if (!h.sink(h.resp.status, std::string_view(data, n))) {
      h.sink_refused = true;
      return 0;
    }
  } catch (...) {
    h.error = std::current_exception();
    return 0;
  }
  return n;
}

std::size_t on_upload(char* buf, std::size_t size, std::size_t count, void* user) {
  auto& h = *static_cast<hop*>(user);
  const std::size_t max = size * count;
  if (h.memory_body != nullptr) {
    const std::size_t n = std::min(max, h.memory_body->size() - h.memory_at);
    std::memcpy(buf, h.memory_body->data() + h.memory_at, n);
    h.memory_at += n;
    return n;
  }
  std::size_t n = 0;
  try {
    n = h.req.body_source(buf, max);
  } catch (...) {
    h.error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
  h.sent += n;
  if (n == 0 && h.req.upload_size >= 0 &&
      h.sent != static_cast<std::uint64_t>(h.req.upload_size)) {
    h.short_upload = true;
    return CURL_READFUNC_ABORT;
  }
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t down, curl_off_t, curl_off_t up) {
  auto& h = *static_cast<hop*>(user);
  const auto now = steady::now();
  if (!h.connected) {
    // Until the request can be sent, connect_timeout governs.
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(h.handle, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    if (pretransfer <= 0) {
      return 0;
    }
    h.connected = true;
    h.last_progress = now;
  }
  if (down != h.last_down || up != h.last_up) {
    h.last_down = down;
    h.last_up = up;
    h.last_progress = now;
    return 0;
  }
  if (h.req.idle_timeout.count() > 0 && now - h.last_progress >= h.req.idle_timeout) {
    h.idle_expired = true;
    return 1;
  }
  return 0;
}

curl_socket_t on_open_socket(void* user, curlsocktype, curl_sockaddr* address) {
  auto& h = *static_cast<hop*>(user);
  std::string why;
  bool allowed = false;
  try {
    allowed = h.req.allow_address(&address->addr, address->addrlen, &why);
  } catch (...) {
    h.error = std::current_exception();
    return CURL_SOCKET_BAD;
  }
  if (!allowed) {
    h.refused = true;
    h.refused_why = "connection to " + address_text(&address->addr) + " refused" +
                    (why.empty() ? std::string() : ": " + why);
    return CURL_SOCKET_BAD;
  }
  h.allowed = true;
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

bool is_tls_error(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
      return true;
    default:
      return false;
  }
}

/** What the caller asked for, carried from hop to hop. */
struct chain {
  std::string url;                     // this hop's, without userinfo
  std::string method;
  bool with_body = true;
  bool caller_headers = true;          // false once the origin changed
  std::string user;                    // from the first URL's userinfo (decoded)
  std::string password;
  bool has_userinfo = false;
  bool has_authorization = false;      // the caller sent its own Authorization header
};

class transfer {
 public:
  transfer(const request& req, const body_sink& sink) : req_(req), sink_(sink) {}

  std::variant<response, failure> run() {
    const auto start = steady::now();
    chain c;
    c.method = upper(req_.method);
    if (c.method.empty() || c.method.find_first_of(" \t\r\n") != std::string::npos) {
      return failure{transport_error::code::other, "invalid request method"};
    }
    for (const auto& [name, value] : req_.headers) {
      if (!valid_header(name, value.reveal())) {
        // Name only: the value is a secret.
        return failure{transport_error::code::other,
                       "invalid request header '" + name.substr(0, 64) + "'"};
      }
      c.has_authorization = c.has_authorization || lower(name) == "authorization";
    }
    std::string why;
    auto first = parse_url(req_.url, why);
    if (!first) {
      return failure{transport_error::code::other, "URL rejected: " + why};
    }
    if (!first->userinfo.empty()) {
      c.has_userinfo = true;
      const std::string decoded = percent_decode(first->userinfo);
      const auto colon = decoded.find(':');
      c.user = decoded.substr(0, colon);
      c.password = colon == std::string::npos ? "" : decoded.substr(colon + 1);
    }
    c.url = first->url;
    std::string origin = first->origin();
    bool tls = first->tls;
    for (int redirects = 0;; ++redirects) {
      std::chrono::milliseconds remaining{0};
      if (req_.total_timeout.count() > 0) {
        remaining = req_.total_timeout -
                    std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
        if (remaining.count() <= 0) {
          return total_timeout_failure();
        }
      }
      if (req_.allow_url) {
        std::string refusal;
        if (!req_.allow_url(redirects == 0 ? std::string_view(req_.url) : std::string_view(c.url),
                            &refusal)) {
          return failure{transport_error::code::refused,
                         (redirects == 0 ? "request refused" : "redirect refused") +
                             (refusal.empty() ? std::string() : ": " + refusal)};
        }
      }
      hop h(req_, sink_);
      h.may_follow = req_.max_redirects > 0;
      std::string next;
      if (auto f = perform_hop(c, remaining, h, next)) {
        return *f;
      }
      if (next.empty()) {
        h.resp.effective_url = redirects == 0 ? req_.url : c.url;
        return std::move(h.resp);
      }
      if (redirects >= req_.max_redirects) {
        return failure{transport_error::code::other,
                       "Maximum (" + std::to_string(req_.max_redirects) + ") redirects followed"};
      }
      auto u = parse_url(next, why);
      if (!u) {
        return failure{transport_error::code::other, "redirect to a URL rejected: " + why};
      }
      if (tls && !u->tls) {
        return failure{transport_error::code::other,
                       "redirect from https to http refused (" + redact_url(next) + ")"};
      }
      const bool streamed_body = c.with_body && static_cast<bool>(req_.body_source);
      const long status = h.resp.status;
      if (status == 303 || ((status == 301 || status == 302) && c.method == "POST")) {
        if (c.method != "HEAD") {
          c.method = "GET";
        }
        c.with_body = false;
      } else if (streamed_body) {
        return failure{transport_error::code::other,
                       "cannot follow a redirect after a streamed upload"};
      }
      if (u->origin() != origin) {
        c.caller_headers = false;  // for good: credentials never follow to another origin
        origin = u->origin();
      }
      tls = u->tls;
      c.url = u->url;
    }
  }

 private:
  failure total_timeout_failure() const {
    return {transport_error::code::timeout,
            "Operation timed out after " + std::to_string(req_.total_timeout.count()) +
                " milliseconds (the request's total time limit)"};
  }

  /** One request and its answer. Sets @p next to the absolute URL to follow, if any. */
  std::optional<failure> perform_hop(const chain& c, std::chrono::milliseconds remaining, hop& h,
                                     std::string& next) {
    easy_ptr easy(curl_easy_init());
    if (!easy) {
      return failure{transport_error::code::other, "libcurl could not create a handle"};
    }
    CURL* e = easy.get();
    h.handle = e;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_URL, c.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM around DNS
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every coding libcurl decodes
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req_.connect_timeout.count()));
    if (remaining.count() > 0) {
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining.count()));
    }
    if (req_.low_speed_limit > 0 && req_.low_speed_time.count() > 0) {
      curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(req_.low_speed_limit));
      curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(req_.low_speed_time.count()));
    }
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(std::min<std::uint64_t>(
                         req_.max_response_bytes, std::numeric_limits<curl_off_t>::max())));
    if (req_.proxy) {
      curl_easy_setopt(e, CURLOPT_PROXY, req_.proxy->c_str());
      curl_easy_setopt(e, CURLOPT_NOPROXY, "");  // NO_PROXY from the environment plays no part
    }
    // TLS: peers always verified (libcurl's defaults, stated).
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!req_.ca_file.empty()) {
      curl_easy_setopt(e, CURLOPT_CAINFO, req_.ca_file.c_str());
    }
    if (!req_.client_cert.empty()) {
      curl_easy_setopt(e, CURLOPT_SSLCERT, req_.client_cert.c_str());
      curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!req_.client_key.empty()) {
      curl_easy_setopt(e, CURLOPT_SSLKEY, req_.client_key.c_str());
      curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    // Method and body.
    const bool streamed = c.with_body && static_cast<bool>(req_.body_source);
    const bool in_memory =
        c.with_body && !streamed && (req_.body.has_value() || c.method == "POST");
    if (c.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (streamed || in_memory) {
      // Every body goes through the read callback, so libcurl adds no Content-Type of its own.
      curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c.method.c_str());
      curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
      curl_easy_setopt(e, CURLOPT_READDATA, &h);
      if (in_memory) {
        static const std::string empty;
        h.memory_body = req_.body ? &*req_.body : &empty;
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                         static_cast<curl_off_t>(h.memory_body->size()));
      } else {
        h.streamed = true;
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req_.upload_size));
      }
    } else if (c.method != "GET") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c.method.c_str());
    }
    // Headers: the caller's (only while the origin is the first), no Expect: 100-continue.
    slist_ptr headers;
    auto add = [&headers](const std::string& line) {
      curl_slist* head = curl_slist_append(headers.get(), line.c_str());
      if (head == nullptr) {
        return false;  // the list is unchanged
      }
      if (head != headers.get()) {
        headers.release();  // the first append made the list; later ones return the same head
        headers.reset(head);
      }
      return true;
    };
    bool ok = add("Expect:");
    if (c.caller_headers) {
      for (const auto& [name, value] : req_.headers) {
        const std::string& v = value.reveal();
        // "Name;" is libcurl's way of sending a header with an empty value.
        ok = ok && add(v.empty() ? name + ";" : name + ": " + v);
      }
      if (c.has_userinfo && !c.has_authorization) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
        curl_easy_setopt(e, CURLOPT_USERNAME, c.user.c_str());
        curl_easy_setopt(e, CURLOPT_PASSWORD, c.password.c_str());
      }
    }
    if (!ok) {
      return failure{transport_error::code::other, "out of memory building the request"};
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
    // Callbacks.
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &h);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, &h);
    if (req_.allow_address) {
      curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
      curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &h);
    }

    const CURLcode rc = curl_easy_perform(e);
    if (h.error) {
      std::rethrow_exception(h.error);  // from the body source, the sink or the hook
    }
    if (rc != CURLE_OK) {
      return classify(rc, errbuf, h);
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &h.resp.status);
    long version = 0;
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
    h.resp.http_version = version == CURL_HTTP_VERSION_2_0  ? 20
                          : version == CURL_HTTP_VERSION_1_0 ? 10
                          : version == CURL_HTTP_VERSION_3   ? 30
                                                             : 11;
    char* location = nullptr;
    curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &location);
    if (h.may_follow && is_redirect(h.resp.status) && location != nullptr) {
      next = location;
    }
    return std::nullopt;
  }

  failure classify(CURLcode rc, const char* errbuf, const hop& h) const {
    const std::string text = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    if (h.refused && !h.allowed) {
      return {transport_error::code::refused, h.refused_why};
    }
    if (h.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return {transport_error::code::too_large,
              "response larger than " + std::to_string(req_.max_response_bytes) + " bytes"};
    }
    if (h.sink_refused) {
      return {transport_error::code::aborted, "transfer aborted by the receiver"};
    }
    if (h.idle_expired) {
      return {transport_error::code::timeout,
              "Operation timed out: nothing sent or received for " +
                  std::to_string(req_.idle_timeout.count()) + " milliseconds after " +
                  std::to_string(h.received) + " bytes of body"};
    }
    if (h.short_upload) {
      return {transport_error::code::other,
              "the upload ended after " + std::to_string(h.sent) + " of " +
                  std::to_string(req_.upload_size) + " bytes"};
    }
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        // libcurl says "Operation timed out after N milliseconds" only for the total limit.
        if (text.rfind("Operation timed out after", 0) == 0) {
          return total_timeout_failure();
        }
        return {transport_error::code::timeout, text};
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
        return {transport_error::code::connect, text};
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_RECV_ERROR:
        return {transport_error::code::other,
                "the server closed the connection before the response was complete: " + text};
      default:
        break;
    }
    if (is_tls_error(rc)) {
      return {transport_error::code::tls, text};
    }
    return {transport_error::code::other, text};
  }

  const request& req_;
  const body_sink& sink_;
};

}  // namespace

std::optional<std::string> response::header(std::string_view name) const {
  const auto wanted = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == wanted) {
      return v;
    }
  }
  return std::nullopt;
}

std::vector<std::string> supported_encodings() {
  global_init();
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  std::vector<std::string> out;
  if ((info->features & CURL_VERSION_LIBZ) != 0) {
    out = {"gzip", "deflate"};
  }
  if ((info->features & CURL_VERSION_BROTLI) != 0) {
    out.emplace_back("br");
  }
  if ((info->features & CURL_VERSION_ZSTD) != 0) {
    out.emplace_back("zstd");
  }
  return out;
}

std::variant<response, transport_error> perform(const request& req, const body_sink& sink) {
  global_init();
  transfer t(req, sink);
  auto out = t.run();
  if (auto* f = std::get_if<failure>(&out)) {
    return transport_error{f->what, f->detail + " (" + redact_url(req.url) + ")"};
  }
  return std::get<response>(std::move(out));
}

}  // namespace pdl::http_client
