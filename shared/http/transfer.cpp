// One request's hops through libcurl (transfer.hpp): the easy handle's options and callbacks,
// redirects followed here so each hop is checked. libcurl's messages (its error buffer) name
// hosts and ports but never the URL's userinfo or query; ours append redact_url() of the request.
#include "shared/http/transfer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "shared/http/url.hpp"

namespace pdl::http_client::detail {
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
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
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

/** Upper-case HTTP_PROXY for an http:// @p url, which libcurl itself ignores: used unless
 *  http_proxy is set or this is a CGI program (REQUEST_METHOD set: HTTP_PROXY would be a
 *  request's Proxy: header). nullptr when it does not apply. */
const char* env_http_proxy(const std::string& url) {
  if (url.size() < 7 || lower(url.substr(0, 7)) != "http://") {
    return nullptr;
  }
  if (std::getenv("http_proxy") != nullptr || std::getenv("REQUEST_METHOD") != nullptr) {
    return nullptr;
  }
  const char* v = std::getenv("HTTP_PROXY");
  return v != nullptr && v[0] != '\0' ? v : nullptr;
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

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
    curl_easy_getinfo(h.easy.get(), CURLINFO_RESPONSE_CODE, &h.resp.status);
    char* location = nullptr;
    curl_easy_getinfo(h.easy.get(), CURLINFO_REDIRECT_URL, &location);
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
  if (n == 0 && h.req.upload_size >= 0 && h.sent != static_cast<std::uint64_t>(h.req.upload_size)) {
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
    curl_easy_getinfo(h.easy.get(), CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
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

curl_socket_t open_plain(hop& h, curl_sockaddr* address) {
  if (h.runner.open_socket != nullptr) {
    return h.runner.open_socket(h.runner.socket_user, CURLSOCKTYPE_IPCXN, address);
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

curl_socket_t on_open_socket(void* user, curlsocktype, curl_sockaddr* address) {
  auto& h = *static_cast<hop*>(user);
  if (!h.req.allow_address) {
    return open_plain(h, address);
  }
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
  return open_plain(h, address);
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

}  // namespace

bool idle_expired_now(hop& h) {
  curl_off_t down = 0;
  curl_off_t up = 0;
  curl_easy_getinfo(h.easy.get(), CURLINFO_SIZE_DOWNLOAD_T, &down);
  curl_easy_getinfo(h.easy.get(), CURLINFO_SIZE_UPLOAD_T, &up);
  return on_progress(&h, 0, down, 0, up) != 0;
}

void global_init() {
  // Never cleaned up: threads may still be in a transfer at exit.
  static const CURLcode once = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)once;
}

transfer::transfer(const request& req, const body_sink& sink, runner_options runner)
    : req_(req), sink_(sink), runner_(runner) {}

std::optional<failure> transfer::start() {
  start_ = steady::now();
  c_.method = upper(req_.method);
  if (c_.method.empty() || c_.method.find_first_of(" \t\r\n") != std::string::npos) {
    return failure{transport_error::code::other, "invalid request method"};
  }
  for (const auto& [name, value] : req_.headers) {
    if (!valid_header(name, value.reveal())) {
      // Name only: the value is a secret.
      return failure{transport_error::code::other,
                     "invalid request header '" + name.substr(0, 64) + "'"};
    }
    c_.has_authorization = c_.has_authorization || lower(name) == "authorization";
  }
  std::string why;
  auto first = parse_url(req_.url, why);
  if (!first) {
    return failure{transport_error::code::other, "URL rejected: " + why};
  }
  if (!first->userinfo.empty()) {
    c_.has_userinfo = true;
    const std::string decoded = percent_decode(first->userinfo);
    const auto colon = decoded.find(':');
    c_.user = decoded.substr(0, colon);
    c_.password = colon == std::string::npos ? "" : decoded.substr(colon + 1);
  }
  c_.url = first->url;
  c_.origin = first->origin();
  c_.tls = first->tls;
  return next_hop();
}

std::optional<failure> transfer::next_hop() {
  std::chrono::milliseconds remaining{0};
  if (req_.total_timeout.count() > 0) {
    remaining = req_.total_timeout -
                std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start_);
    if (remaining.count() <= 0) {
      return total_timeout_failure();
    }
  }
  if (req_.allow_url) {
    const bool first = c_.redirects == 0;
    std::string refusal;
    const bool ok =
        req_.allow_url(first ? std::string_view(req_.url) : std::string_view(c_.url), &refusal);
    if (!ok) {
      return failure{transport_error::code::refused,
                     (first ? "request refused" : "redirect refused") +
                         (refusal.empty() ? std::string() : ": " + refusal)};
    }
  }
  hop_ = std::make_unique<hop>(req_, sink_, runner_);
  hop_->may_follow = req_.max_redirects > 0;
  hop_->easy.reset(curl_easy_init());
  if (!hop_->easy) {
    return failure{transport_error::code::other, "libcurl could not create a handle"};
  }
  return configure(*hop_, remaining);
}

std::optional<failure> transfer::configure(hop& h, std::chrono::milliseconds remaining) {
  CURL* e = h.easy.get();
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h.errbuf);
  curl_easy_setopt(e, CURLOPT_URL, c_.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM around DNS
#if LIBCURL_VERSION_NUM >= 0x075700
  // A name lookup that outlives its transfer's timeout is left to finish on its own thread
  // instead of being waited for (joined), which would stall every other transfer.
  curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#endif
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
    curl_easy_setopt(e, CURLOPT_NOPROXY, req_.no_proxy.value_or("").c_str());
  } else {
    if (const char* upper = env_http_proxy(c_.url)) {
      curl_easy_setopt(e, CURLOPT_PROXY, upper);  // NO_PROXY still applies
    }
    if (req_.no_proxy) {
      curl_easy_setopt(e, CURLOPT_NOPROXY, req_.no_proxy->c_str());
    }
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
  const bool streamed = c_.with_body && static_cast<bool>(req_.body_source);
  const bool in_memory =
      c_.with_body && !streamed && (req_.body.has_value() || c_.method == "POST");
  if (c_.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (streamed || in_memory) {
    // Every body goes through the read callback, so libcurl adds no Content-Type of its own.
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c_.method.c_str());
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(e, CURLOPT_READDATA, &h);
    if (in_memory) {
      static const std::string empty;
      h.memory_body = req_.body ? &*req_.body : &empty;
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(h.memory_body->size()));
    } else {
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req_.upload_size));
    }
  } else if (c_.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c_.method.c_str());
  }
  // Headers: the caller's (only while the origin is the first), no Expect: 100-continue.
  slist_ptr& headers = h.headers;
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
  if (c_.caller_headers) {
    for (const auto& [name, value] : req_.headers) {
      const std::string& v = value.reveal();
      // "Name;" is libcurl's way of sending a header with an empty value.
      ok = ok && add(v.empty() ? name + ";" : name + ": " + v);
    }
    if (c_.has_userinfo && !c_.has_authorization) {
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(e, CURLOPT_USERNAME, c_.user.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, c_.password.c_str());
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
  if (req_.allow_address || runner_.open_socket != nullptr) {
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &h);
  }
  if (runner_.close_socket != nullptr) {
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, runner_.close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, runner_.socket_user);
  }
  if (runner_.share != nullptr) {
    curl_easy_setopt(e, CURLOPT_SHARE, runner_.share);
  }
  return std::nullopt;
}

transfer::outcome transfer::finished(CURLcode rc) {
  hop& h = *hop_;
  if (h.error) {
    std::rethrow_exception(h.error);  // from the body source, the sink or the hook
  }
  if (rc != CURLE_OK) {
    return classify(rc, h);
  }
  CURL* e = h.easy.get();
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &h.resp.status);
  long version = 0;
  curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
  h.resp.http_version = version == CURL_HTTP_VERSION_2_0   ? 20
                        : version == CURL_HTTP_VERSION_1_0 ? 10
                        : version == CURL_HTTP_VERSION_3   ? 30
                                                           : 11;
  char* location = nullptr;
  curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &location);
  if (!h.may_follow || !is_redirect(h.resp.status) || location == nullptr) {
    h.resp.effective_url = c_.redirects == 0 ? req_.url : c_.url;
    return std::move(h.resp);
  }
  const std::string next = location;
  if (c_.redirects >= req_.max_redirects) {
    return failure{transport_error::code::other,
                   "Maximum (" + std::to_string(req_.max_redirects) + ") redirects followed"};
  }
  std::string why;
  auto u = parse_url(next, why);
  if (!u) {
    return failure{transport_error::code::other, "redirect to a URL rejected: " + why};
  }
  if (c_.tls && !u->tls) {
    return failure{transport_error::code::other,
                   "redirect from https to http refused (" + redact_url(next) + ")"};
  }
  const bool streamed_body = c_.with_body && static_cast<bool>(req_.body_source);
  const long status = h.resp.status;
  if (status == 303 || ((status == 301 || status == 302) && c_.method == "POST")) {
    if (c_.method != "HEAD") {
      c_.method = "GET";
    }
    c_.with_body = false;
  } else if (streamed_body) {
    return failure{transport_error::code::other,
                   "cannot follow a redirect after a streamed upload"};
  }
  if (u->origin() != c_.origin) {
    c_.caller_headers = false;  // for good: credentials never follow to another origin
    c_.origin = u->origin();
  }
  c_.tls = u->tls;
  c_.url = u->url;
  ++c_.redirects;
  if (auto f = next_hop()) {
    return *f;
  }
  return std::monostate{};
}

failure transfer::total_timeout_failure() const {
  return {transport_error::code::timeout, "Operation timed out after " +
                                              std::to_string(req_.total_timeout.count()) +
                                              " milliseconds (the request's total time limit)"};
}

failure transfer::classify(CURLcode rc, const hop& h) const {
  const std::string text = h.errbuf[0] != '\0' ? h.errbuf : curl_easy_strerror(rc);
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
    return {transport_error::code::timeout, "Operation timed out: nothing sent or received for " +
                                                std::to_string(req_.idle_timeout.count()) +
                                                " milliseconds after " +
                                                std::to_string(h.received) + " bytes of body"};
  }
  if (h.short_upload) {
    return {transport_error::code::other, "the upload ended after " + std::to_string(h.sent) +
                                              " of " + std::to_string(req_.upload_size) + " bytes"};
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

transport_error to_error(const failure& f, const request& req) {
  return transport_error{f.what, f.detail + " (" + redact_url(req.url) + ")"};
}

}  // namespace pdl::http_client::detail
