#include "server/notify_frame.hpp"

#include <nlohmann/json.hpp>

#include "shared/rpc/rpc.hpp"

namespace pdl::server {
namespace {

// The notify request is built by the rpc codec with a marker in place of the data, then cut
// at the marker, so head and tail stay byte-identical to the codec's own encoding.
constexpr std::string_view marker = "\"\x01pdl-data\x01\"";

}  // namespace

std::shared_ptr<const std::string> notify_tail(std::string_view data_json,
                                               std::string_view call_id) {
  std::string whole = rpc::encode_request(
      "notify", rpc::encode_notify_arguments("", "", "", marker), call_id);
  auto at = whole.find(marker);
  auto out = std::make_shared<std::string>();
  out->reserve(data_json.size() + whole.size() - at);
  out->append(data_json);
  out->append(whole, at + marker.size());
  return out;
}

std::string notify_head(std::string_view subscription_id, std::string_view subscriber_id,
                        std::string_view topic) {
  std::string whole = rpc::encode_request(
      "notify", rpc::encode_notify_arguments(subscription_id, subscriber_id, topic, marker), "");
  return whole.substr(0, whole.find(marker));
}

}  // namespace pdl::server
