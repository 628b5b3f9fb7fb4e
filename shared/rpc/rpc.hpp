#pragma once
// OPAL's WebSocket RPC framing (fastapi_websocket_rpc), one JSON document per text frame:
//   {"request": {"method": M, "arguments": {...}, "call_id": ID}, "response": null}
//   {"request": null, "response": {"result": R, "result_type": T, "call_id": ID}}
// Frames are decoded without building a DOM of their arguments: `arguments` (and within a
// notify, `data`) stay raw JSON text, so a large inline update is parsed once, by the model.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/model/errors.hpp"

namespace pdl::rpc {

struct request {
  std::string method;
  std::string arguments_json = "{}";  // raw JSON object
  std::string call_id;
};

struct response {
  std::string result_json = "null";   // raw JSON value
  std::string result_type;            // python type name: "str", "bool", "NoneType", ...
  std::string call_id;
};

struct frame {
  std::optional<request> req;
  std::optional<response> resp;
};

/** Decodes one frame. Exactly one of request/response must be non-null. Limits: @p max_bytes
 *  for the frame, 256-byte method and call_id. @throws model::invalid_input naming the field
 *  ("request.method: expected a string"). */
frame decode(std::string_view text, std::size_t max_bytes = 64 * 1024 * 1024);

/** Encoders produce exactly the wire shape above (with the null sibling). */
std::string encode_request(std::string_view method, std::string_view arguments_json,
                           std::string_view call_id);
std::string encode_response(std::string_view result_json, std::string_view result_type,
                            std::string_view call_id);

/** 32 lowercase hex chars (uuid4 without dashes), as the Python library makes call ids. */
std::string new_call_id();

// ---- the methods the data path uses -------------------------------------------------------

/** subscribe/unsubscribe arguments {"topics":[...]}; @throws invalid_input. */
std::vector<std::string> decode_topics_arguments(std::string_view arguments_json);
std::string encode_topics_arguments(const std::vector<std::string>& topics);

/** notify arguments: {"subscription":{"id","subscriber_id","topic","notifier_id":null},
 *  "data": <DataUpdate>}. Encoding splices @p data_json in as is. */
std::string encode_notify_arguments(std::string_view subscription_id,
                                    std::string_view subscriber_id, std::string_view topic,
                                    std::string_view data_json);
struct notify_arguments {
  std::string topic;
  std::string data_json;  // raw DataUpdate JSON
};
/** @throws invalid_input. A topic of the form "app::topic" is reduced to "topic" (OPAL's
 *  tenant-aware variant). */
notify_arguments decode_notify_arguments(std::string_view arguments_json);

/** Our protocol extension header, sent by our agent on the upgrade request and echoed by our
 *  server on the 101 answer. Neither side assumes it: OPAL peers neither send nor echo it. */
inline constexpr std::string_view protocol_header = "X-PDL-Protocol";
inline constexpr std::string_view protocol_version = "1";
/** Protocol 1: the server's update log id (update_log::log_id), on the 101 answer. */
inline constexpr std::string_view log_id_header = "X-PDL-Log-Id";

}  // namespace pdl::rpc
