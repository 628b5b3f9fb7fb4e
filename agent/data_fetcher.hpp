#pragma once
// Seam: where an entry's data comes from when it is not inline.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "agent/temp_file.hpp"
#include "shared/model/data_update.hpp"
#include "shared/model/json_validator.hpp"

namespace pdl::agent {

/** A fetched, validated JSON document, spooled to a temp file (removed with this object). */
struct fetched_body {
  temp_file file;
  std::uint64_t size = 0;
  model::json_type root = model::json_type::null;
};

/** A fetch that produced no usable document. what() never holds header values, the body or the
 *  URL's query string. @c permanent: retrying the same request will not help (4xx, bad JSON). */
class fetch_error : public std::runtime_error {
 public:
  fetch_error(std::string message, bool permanent, long http_status = 0, bool timed_out = false,
              bool refused = false)
      : std::runtime_error(std::move(message)),
        permanent_(permanent || refused),
        status_(http_status),
        timed_out_(timed_out),
        refused_(refused) {}
  bool permanent() const noexcept { return permanent_; }
  long http_status() const noexcept { return status_; }
  /** The source did not answer (or stalled) within the configured timeouts. */
  bool timed_out() const noexcept { return timed_out_; }
  /** The source rules refused the URL, a redirect hop or an address it resolved to (always
   *  permanent). */
  bool refused() const noexcept { return refused_; }

 private:
  bool permanent_;
  long status_;
  bool timed_out_;
  bool refused_;
};

/**
 * Fetches entry.url as configured by entry.config.
 *
 * fetch() blocks until the document is complete and validated, or failed; it is called from a
 * worker thread (never the event loop), possibly from several threads at once, so
 * implementations are thread-safe. The returned body belongs to the caller.
 * @throws fetch_error for every expected failure (transport, status >= 400, invalid JSON with its
 *         byte offset, size limit, bad entry.config).
 */
class data_fetcher {
 public:
  virtual ~data_fetcher() = default;
  virtual fetched_body fetch(const model::data_source_entry& entry) = 0;
};

using data_fetcher_ptr = std::unique_ptr<data_fetcher>;

}  // namespace pdl::agent
