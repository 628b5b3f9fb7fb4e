#include "shared/http/client.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>

#include <curl/curl.h>

namespace pdl::http_client {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct easy_deleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
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

/** State shared with curl's callbacks for one transfer. */
struct transfer {
  CURL* handle = nullptr;
  const request* req = nullptr;
  const body_sink* sink = nullptr;
  response resp;
  bool too_large = false;
  bool sink_aborted = false;
  std::exception_ptr callback_error;  // rethrown once curl has returned
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  const size_t len = size * n;
  std::string_view line(data, len);
  // A new status line starts a new header block (redirects, 100 Continue): keep the last one.
  if (line.rfind("HTTP/", 0) == 0) {
    t->resp.headers.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    t->resp.headers.emplace_back(lower(trim(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
  }
  return len;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  const size_t len = size * n;
  if (t->resp.body_bytes + len > t->req->max_response_bytes) {
    t->too_large = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  t->resp.body_bytes += len;
  if (t->sink != nullptr && *t->sink) {
    long status = 0;
    curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
    try {
      if (!(*t->sink)(status, std::string_view(data, len))) {
        t->sink_aborted = true;
        return 0;
      }
    } catch (...) {
      t->callback_error = std::current_exception();
      return 0;
    }
  } else {
    t->resp.body.append(data, len);
  }
  return len;
}

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  try {
    return t->req->body_source(buf, size * n);
  } catch (...) {
    t->callback_error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
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

transport_error::code classify(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return transport_error::code::connect;
    case CURLE_OPERATION_TIMEDOUT:
      return transport_error::code::timeout;
    case CURLE_FILESIZE_EXCEEDED:
      return transport_error::code::too_large;
    case CURLE_ABORTED_BY_CALLBACK:
      return transport_error::code::aborted;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      return transport_error::code::tls;
    default:
      return transport_error::code::other;
  }
}

transport_error fail(transport_error::code what, std::string detail, const request& req) {
  return transport_error{what, detail + " (" + redact_url(req.url) + ")"};
}

long to_seconds_ceil(std::chrono::milliseconds ms) {
  return std::max<long>(1, static_cast<long>((ms.count() + 999) / 1000));
}

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

std::string redact_url(std::string_view url) {
  auto cut = url.find_first_of("?#");
  if (cut != std::string_view::npos) {
    url = url.substr(0, cut);
  }
  auto scheme = url.find("://");
  std::size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  auto path = url.find('/', authority);
  auto at = url.substr(0, path).rfind('@');
  if (at != std::string_view::npos && at >= authority) {
    return std::string(url.substr(0, authority)) + std::string(url.substr(at + 1));
  }
  return std::string(url);
}

std::variant<response, transport_error> perform(const request& req, const body_sink& sink) {
  global_init();
  std::unique_ptr<CURL, easy_deleter> handle(curl_easy_init());
  if (!handle) {
    return fail(transport_error::code::other, "cannot create a curl handle", req);
  }
  CURL* h = handle.get();
  transfer t;
  t.handle = h;
  t.req = &req;
  t.sink = &sink;
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::unique_ptr<curl_slist, slist_deleter> header_list;
  auto append = [&](const std::string& line) {
    // curl_slist_append returns the same head, or null (leaving the old list intact) on failure.
    if (curl_slist* head = curl_slist_append(header_list.get(), line.c_str())) {
      header_list.release();
      header_list.reset(head);
      return true;
    }
    return false;
  };
  bool has_expect = false;
  for (const auto& [name, value] : req.headers) {
    if (!valid_header(name, value.reveal())) {
      // Name only: the value is a secret.
      return fail(transport_error::code::other,
                  "invalid request header '" + (name.size() > 64 ? name.substr(0, 64) : name) +
                      "'",
                  req);
    }
    has_expect = has_expect || lower(name) == "expect";
    // "Name;" is curl's spelling of a header with an empty value.
    if (!append(value.empty() ? name + ";" : name + ": " + value.reveal())) {
      return fail(transport_error::code::other, "out of memory", req);
    }
  }
  // A 100-continue round trip only adds latency for our uploads.
  if (!has_expect && !append("Expect:")) {
    return fail(transport_error::code::other, "out of memory", req);
  }

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
  if (req.total_timeout.count() > 0) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.total_timeout.count()));
  }
  // Idle timeout: under 1 byte/s for the whole window counts as no progress.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, to_seconds_ceil(req.idle_timeout));
  if (req.max_redirects > 0) {
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, static_cast<long>(req.max_redirects));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    // CURLOPT_UNRESTRICTED_AUTH stays off: Authorization is not sent to another host.
  }
  if (req.max_response_bytes < static_cast<std::uint64_t>(INT64_MAX)) {
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(req.max_response_bytes));
  }
  if (!req.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, req.ca_file.c_str());
  }
  if (!req.client_cert.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, req.client_cert.c_str());
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!req.client_key.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLKEY, req.client_key.c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  // Verification stays on whatever the caller sets (curl's defaults, restated on purpose).
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);

  const std::string method = [&] {
    std::string m = req.method;
    std::transform(m.begin(), m.end(), m.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return m;
  }();
  if (method.empty() || method.find_first_of(" \t\r\n") != std::string::npos) {
    return fail(transport_error::code::other, "invalid request method", req);
  }
  if (req.body_source) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    if (req.upload_size >= 0) {
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload_size));
    }
    if (method != "PUT") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
  } else if (req.body || method == "POST") {
    static const std::string empty;
    const std::string& body = req.body ? *req.body : empty;
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    if (method != "POST") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
  } else if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  const CURLcode rc = curl_easy_perform(h);
  if (t.callback_error) {
    std::rethrow_exception(t.callback_error);
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return fail(transport_error::code::too_large,
                  "response larger than " + std::to_string(req.max_response_bytes) + " bytes",
                  req);
    }
    if (t.sink_aborted) {
      return fail(transport_error::code::aborted, "transfer aborted by the receiver", req);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      detail = std::string(curl_easy_strerror(rc)) + ": " + detail;
    }
    return fail(classify(rc), detail, req);
  }

  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &t.resp.status);
  char* effective = nullptr;
  curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective);
  t.resp.effective_url = effective != nullptr ? effective : req.url;
  return std::move(t.resp);
}

}  // namespace pdl::http_client
