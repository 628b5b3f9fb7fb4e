#pragma once
// The DataUpdate wire model, shared by server, agent, CLI and the publisher library.
//
// JSON shapes follow OPAL's pydantic models (DataSourceEntry, DataUpdate, DataSourceConfig):
// unknown fields are ignored, every field is emitted on output (nulls included). Inline `data`
// and the fetcher `config` are kept as raw JSON text: a payload that is only forwarded is never
// parsed into a DOM (it is validated with simdjson, then passed on as bytes).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/model/errors.hpp"

namespace pdl::model {

inline constexpr std::string_view default_data_topic = "policy_data";

enum class save_method { put, patch };

/** Who fetches an entry's url: each agent (OPAL's way), or the server once for every agent
 *  (docs/fetch-once.md). Extra field "fetched_by"; OPAL peers ignore it. */
enum class fetched_by { agent, server };
std::string_view to_string(fetched_by f);

/** Where the server keeps the bytes it fetched for an entry: their SHA-256 (64 lower-case hex
 *  digits) and size. Extra field "blob"; set only by the server. */
struct blob_ref {
  std::string sha256;
  std::uint64_t size = 0;

  friend bool operator==(const blob_ref&, const blob_ref&) = default;
};

/** True when @p s is a SHA-256 as blobs are named: 64 lower-case hexadecimal digits. */
bool is_sha256_hex(std::string_view s);

/** One instruction: where the data comes from and where in the policy store it goes. */
struct data_source_entry {
  std::string url;                          // may be "" when data is inline
  std::optional<std::string> config_json;   // raw JSON object (HttpFetcherConfig), nullopt = null
  std::vector<std::string> topics{std::string(default_data_topic)};
  std::string dst_path;                     // as given; see normalize_dst_path()
  save_method method = save_method::put;
  std::optional<std::string> data_json;     // raw JSON text of inline data, nullopt = null
  std::optional<double> periodic_update_interval;  // seconds; base config entries only
  std::optional<model::fetched_by> fetched_by;     // "fetched_by"; nullopt = the server's default
  std::optional<blob_ref> blob;                    // "blob": set by the server that fetched url

  friend bool operator==(const data_source_entry&, const data_source_entry&) = default;
};

/** The message a publisher sends and every subscribed agent receives. */
struct data_update {
  std::optional<std::string> id;
  std::vector<data_source_entry> entries;
  std::optional<std::string> reason;
  std::string callback_json = R"({"callbacks":[]})";  // raw UpdateCallback object
  /** Our extension: the server-assigned, monotonically increasing sequence number. Extra field
   *  "seq" on the wire; OPAL peers ignore it, and our agent works without it. */
  std::optional<std::uint64_t> seq;

  friend bool operator==(const data_update&, const data_update&) = default;
};

/** Limits applied while parsing. Every field has a safe default. */
struct parse_limits {
  std::size_t max_entries = 1000;
  std::size_t max_topics_per_entry = 100;
  std::size_t max_string_bytes = 64 * 1024;  // url, dst_path, topic, id, reason
  std::size_t max_depth = 256;               // nesting inside inline data
};

/**
 * Parses and fully validates a DataUpdate JSON document (see validate()).
 * @throws invalid_input naming the first offending field ("entries[0].save_method: ...").
 */
data_update parse_data_update(std::string_view json, const parse_limits& limits = {});

/** Parses a DataSourceConfig document `{"entries":[...]}`; entries validated as in a DataUpdate
 *  (an empty list is allowed here). @throws invalid_input. */
std::vector<data_source_entry> parse_data_source_config(std::string_view json,
                                                        const parse_limits& limits = {});

/**
 * Checks what the server requires of an update, beyond its JSON types:
 * - at least one entry; each entry has at least one non-empty topic;
 * - each entry has inline data or an http(s) url;
 * - PUT of inline data at the root (dst_path "", "/", ".") must be an object;
 * - PATCH data is a list of ops, each {"op","path"[,"value"]} with op add|remove|replace
 *   (OPA refuses every other op, so we refuse them first, with the reason);
 * - dst_path has no empty, "." or ".." segment in its middle.
 * @throws invalid_input naming the field.
 */
void validate(const data_update& update, const parse_limits& limits = {});

/** Serialises like OPAL (`update.dict(by_alias=True)`): every field, nulls included, inline data
 *  and config spliced in as the raw JSON they were received as; "seq" only when set. */
std::string to_json(const data_update& update);
std::string to_json(const data_source_entry& entry);
/** `{"entries":[...]}` with periodic_update_interval on each entry. */
std::string data_source_config_to_json(const std::vector<data_source_entry>& entries);

std::string_view to_string(save_method m);  // "PUT" / "PATCH"

}  // namespace pdl::model
