#pragma once
// The seam between accepted updates and their storage. Sequence numbers come from here, so a
// durable implementation (file, Redis: later issues) keeps them monotonic across restarts.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "shared/model/data_update.hpp"

namespace pdl::server {

/** The log could not take the update (disk full, Redis down, ...). POST /data/config answers
 *  503 and nothing is delivered. The message never contains update content. */
class update_log_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/**
 * An ordered log of accepted updates.
 * @par Thread safety
 * Every member may be called from any thread.
 */
class update_log {
 public:
  virtual ~update_log() = default;

  /** Stores @p update with the next sequence number (the first is 1) and returns it. The
   *  stored copy carries the seq; @p update itself is not changed.
   *  @throws update_log_error when the update could not be stored (nothing was assigned). */
  virtual std::uint64_t append(const model::data_update& update) = 0;

  /** The retained updates with a seq greater than @p seq, oldest first. An implementation may
   *  have dropped old ones: compare the first seq with @p seq + 1 to detect a gap. */
  virtual std::vector<model::data_update> since(std::uint64_t seq) const = 0;

  /** The last assigned seq (0 when nothing was appended yet). */
  virtual std::uint64_t head() const = 0;
};

using update_log_ptr = std::unique_ptr<update_log>;

}  // namespace pdl::server
