#pragma once
// Seam: where an entry's data comes from when it is not inline.
#include <cstdint>
#include <exception>
#include <functional>
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

/** A `${secret:NAME}` in the entry's headers could not be resolved (agent/secret_refs.hpp):
 *  permanent, and counted under its own reason. */
class secret_error : public fetch_error {
 public:
  explicit secret_error(std::string message) : fetch_error(std::move(message), true) {}
};

/** A blob entry's download (docs/fetch-once.md) did not produce the bytes the server announced:
 *  another size (more bytes than announced stop the transfer at once) or another SHA-256.
 *  Permanent, and counted under its own reason (blob_mismatch). */
class blob_mismatch_error : public fetch_error {
 public:
  explicit blob_mismatch_error(std::string message) : fetch_error(std::move(message), true) {}
};

/** How a fetch ended: the document, or (body empty) an exception: a fetch_error for every
 *  expected failure. */
using fetch_done = std::function<void(fetched_body body, std::exception_ptr error)>;

/**
 * Fetches entry.url as configured by entry.config; an entry with a blob (fetched once by the
 * server) is downloaded from the server instead, and checked against the blob's size and hash.
 *
 * fetch() starts the transfer and returns; @p done runs exactly once when the document is
 * complete and validated, or failed: on any thread (the fetcher's own, or the caller's before
 * fetch() returns when the entry is refused at once), so the caller moves back to its own
 * executor. The entry need not outlive the call. Failures are fetch_error (transport, status
 * >= 400, invalid JSON with its byte offset, size limit, bad entry.config, a refused source,
 * blob_mismatch_error).
 * Implementations are thread-safe and never block the calling thread on the network.
 */
class data_fetcher {
 public:
  virtual ~data_fetcher() = default;
  virtual void fetch(const model::data_source_entry& entry, fetch_done done) = 0;
};

using data_fetcher_ptr = std::unique_ptr<data_fetcher>;

}  // namespace pdl::agent
