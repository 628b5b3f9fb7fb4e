#pragma once
// Source rules (issue 10): which data-source URLs the agent may fetch, and which ones the server
// accepts in a published update. The same entries serve both (`fetch.allow` / `fetch.deny`,
// OPAL_FETCH_ALLOW / OPAL_FETCH_DENY); docs/source-rules.md is the user's reference.
//
// An entry is one of:
//   - an address or CIDR, IPv4 or IPv6, optionally with a port: `10.0.0.0/8`, `169.254.169.254`,
//     `fe80::/10`, `::1`, `[::1]:8181`, `127.0.0.0/8:8181` (a bracketed IPv6 form takes a port);
//   - a host name, optionally `*.`-wildcarded and with a port: `api.example.com`,
//     `*.example.com` (any name below example.com, not example.com itself), `opa:8181`;
//   - a URL prefix: `https://api.example.com/v1/` (scheme, host and port equal, the path equal
//     or below: `/v1` matches `/v1` and `/v1/x`, never `/v1x`).
// Host names and schemes compare case-insensitively; paths are compared after percent-decoding
// unreserved characters and removing dot segments, so `/v1/../admin` is `/admin`.
//
// Semantics: a deny entry that matches refuses, whatever the allow list says. When the allow list
// is not empty, a source must match one of its entries. A URL is checked before anything is
// resolved (check_url: host names, URL prefixes, and addresses when the host is an IP literal);
// every address a connection is about to be made to is checked again after DNS (check_address:
// addresses and CIDRs), so a name that resolves (or rebinds) to a denied address is refused.
// Host names and URL prefixes cannot match an address; addresses match a URL's host only when it
// is an IP literal. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is checked as its IPv4 address,
// and one in the NAT64 prefix 64:ff9b::/96 also as the IPv4 address it carries.
//
// Thread safety: a source_rules is built once, then only read; check_* are const and may run on
// any number of threads at once.
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pdl::http_client {

struct request;

/** Why a source is refused. */
struct refusal {
  /** The entry as written ("169.254.0.0/16"); empty when the source matched no allow entry. */
  std::string rule;
  /** Where the entry comes from: "fetch.deny", "fetch.allow", "default". */
  std::string origin;
  /** "denied by fetch.deny rule '10.0.0.0/8'", "denied by default rule '169.254.0.0/16'
   *  (link-local)", "not in fetch.allow". Never holds a URL. */
  std::string message;
};

namespace detail {

/** An IPv4 or IPv6 address (IPv4 in the first 4 bytes). */
struct ip_address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  friend bool operator==(const ip_address&, const ip_address&) = default;
};

/** A URL as the rules see it. */
struct url_target {
  bool tls = false;
  std::string host;                   // lower case, percent-decoded, no brackets or trailing dot
  std::optional<ip_address> address;  // when the host is an IP literal (any form libcurl takes)
  std::uint16_t port = 0;
  std::string path;                   // normalised (see the file comment), no query
};

/** nullopt when @p url is not an absolute http(s) URL with a host. */
std::optional<url_target> to_target(std::string_view url);

/** A strict IPv4 dotted quad or an IPv6 address (an IPv4-mapped one becomes IPv4). */
std::optional<ip_address> parse_ip(std::string_view text);

}  // namespace detail

/** One parsed entry. */
class source_rule {
 public:
  enum class kind { network, host, url_prefix };

  /** Parses @p text (surrounding white space ignored). On failure: nullopt, @p why says what is
   *  wrong, quoting the entry (a URL prefix without its user info or query). */
  static std::optional<source_rule> parse(std::string_view text, std::string& why);

  kind type() const noexcept { return kind_; }
  /** The entry as written (trimmed). */
  const std::string& text() const noexcept { return text_; }

  /** A URL matches a host entry by name, a URL prefix by scheme, host, port and path, an
   *  address entry when its host is an IP literal inside it. */
  bool matches(const detail::url_target& t) const;
  /** Only address entries match an address. */
  bool matches(const detail::ip_address& a, std::uint16_t port) const;

 private:
  kind kind_ = kind::host;
  std::string text_;
  detail::ip_address net_;  // network
  int prefix_len_ = 0;
  std::string host_;        // host and url_prefix; "*.example.com" keeps its "*."
  bool tls_ = false;        // url_prefix
  std::string path_;        // url_prefix, normalised
  std::uint16_t port_ = 0;  // every kind; 0 = any port
};

/** The allow and deny lists. */
class source_rules {
 public:
  /** No entry: every source allowed. */
  source_rules() = default;

  /** The built-in deny entries (origin "default"): link-local 169.254.0.0/16 and fe80::/10
   *  (cloud metadata at 169.254.169.254 and AWS's 169.254.170.2 among them), AWS's IPv6 metadata
   *  fd00:ec2::254, Alibaba Cloud's 100.100.100.200, Azure's WireServer 168.63.129.16, and
   *  metadata.google.internal (also reached through 169.254.169.254; named so that it is refused
   *  before DNS). Each with a note saying what it is. */
  static source_rules with_defaults();

  struct entry_note {
    std::string_view entry;
    std::string_view note;
  };
  /** The entries with_defaults() adds. */
  static const std::vector<entry_note>& builtin_denies();

  /** Adds an entry; false (nothing added) with @p why when it does not parse. @p origin names
   *  the list in refusals ("fetch.deny"); @p note, when set, is added to them in parentheses. */
  bool add_deny(std::string_view entry, std::string origin, std::string& why,
                std::string note = {});
  /** The allow list's entries (all from one setting: @p origin names it in refusals). */
  bool add_allow(std::string_view entry, std::string origin, std::string& why);
  /** Adds every entry of one setting (@p origin, "fetch.allow" or "fetch.deny") to the allow or
   *  the deny list. @throws std::invalid_argument naming the setting and what is wrong. */
  void add_setting(const std::vector<std::string>& entries, const std::string& origin,
                   bool allow);

  /**
   * Denies connections to one of our own services listening at @p host : @p port (a policy store
   * URL's host, an API listen address): the host as a name, or as an address when it is an IP
   * literal. When the host is loopback ("localhost", "*.localhost", 127.0.0.0/8, ::1) or a
   * wildcard listen address (0.0.0.0, ::), every way to reach the port on this machine is
   * denied: 127.0.0.0/8, ::1, 0.0.0.0, :: and, with @p local_interfaces, each address of the
   * machine's interfaces (getifaddrs, read now). A name that is not loopback is denied as a name
   * only (its addresses are not resolved: see docs/source-rules.md). Origin "default".
   */
  void deny_endpoint(std::string_view host, std::uint16_t port, const std::string& note,
                     bool local_interfaces);

  /**
   * Checks @p url (an absolute http(s) URL, user info and query allowed: they are not matched).
   * @param allow_matched set to true when an allow entry matched the URL itself (its host or
   *        prefix), so the address it connects to only needs to pass the deny list; false when
   *        the allow list is empty or when only an address entry can still allow it.
   * @return the refusal, or nullopt when the URL may be requested (and its addresses checked).
   *         An unparsable URL is refused.
   */
  std::optional<refusal> check_url(std::string_view url, bool* allow_matched = nullptr) const;

  /** Checks an address about to be connected to (after DNS). @p allow_matched: what check_url
   *  said of the URL being fetched. Families other than IPv4 and IPv6 are refused. */
  std::optional<refusal> check_address(const sockaddr* addr, socklen_t len,
                                       bool allow_matched = false) const;

  /** Every entry, deny list first: "deny 169.254.0.0/16 (default: link-local)",
   *  "allow https://api.example.com/v1/ (fetch.allow)". For print-config. */
  std::vector<std::string> describe() const;

  bool empty() const noexcept { return deny_.empty() && allow_.empty(); }

 private:
  struct listed {
    source_rule rule;
    std::string origin;
    std::string note;
  };
  refusal denied(const listed& l) const;
  refusal not_allowed() const;

  std::vector<listed> deny_;
  std::vector<listed> allow_;
  std::string allow_origin_ = "fetch.allow";
  bool allow_has_network_ = false;
};

/**
 * Sets @p req's allow_url and allow_address hooks from @p rules: the first URL and every
 * redirect hop are checked with check_url, every address libcurl is about to connect to with
 * check_address; a refusal fails the request with transport_error::code::refused and the
 * refusal's message. @p rules must outlive every perform() of @p req (and of its copies); a
 * request with these hooks is performed by one thread at a time.
 */
void apply(const source_rules& rules, request& req);

}  // namespace pdl::http_client
