#pragma once
// The one path an update takes into the server, from POST /data/config and from a datasource's
// WebSocket `publish`: parse and validate, check the topics the token permits, expand topics,
// assign id and seq (update_log), fan out (hub).
#include <mutex>
#include <string_view>

#include "server/http_types.hpp"
#include "server/hub.hpp"
#include "server/server_auth.hpp"
#include "server/server_stats.hpp"
#include "server/update_log.hpp"
#include "shared/model/errors.hpp"

namespace pdl::server {

/** 422/400 body: {"detail":[{"loc":["body",...],"msg":..,"type":"value_error"}],"error":..}.
 *  Path "entries[0].save_method" becomes loc ["body","entries",0,"save_method"]. */
std::string validation_error_body(const model::invalid_input& e);

class update_intake {
 public:
  update_intake(update_log& log, hub& subscriptions, server_stats& stats,
                model::parse_limits limits = {});

  /**
   * Takes one DataUpdate document. The caller is already authenticated; this checks that it may
   * publish (datasource peer, 403) and its permitted_topics (403), then the body (400 malformed
   * JSON, 422 schema), stores it (503 when the log refuses) and fans it out.
   * @return 200 {"status":"ok","id":..,"seq":..} or the refusal.
   * @par Thread safety
   * Any thread. Appends and fan-outs are serialised, so sessions see updates in seq order.
   */
  http_reply submit(std::string_view body, const caller& who, std::string_view via);

 private:
  update_log& log_;
  hub& hub_;
  server_stats& stats_;
  model::parse_limits limits_;
  std::mutex publish_mu_;  // held across append + publish: seq order == delivery order
};

}  // namespace pdl::server
