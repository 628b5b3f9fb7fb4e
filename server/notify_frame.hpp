#pragma once
// The server's `notify` frame, split so the large part is built once per update and shared by
// every session: head (per session: subscription ids and topic) + tail (shared: the DataUpdate
// JSON, the call id and the closing braces). head + *tail is exactly
// rpc::encode_request("notify", rpc::encode_notify_arguments(...), call_id).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pdl::server {

/** One frame to send: *head, then *tail when set. Cheap to copy (both parts are shared: a
 *  session's head for a topic is built once, at subscribe, the tail once per update). */
struct outgoing_frame {
  std::shared_ptr<const std::string> head;
  std::shared_ptr<const std::string> tail;
  /** The notified update's seq; 0 for frames that are not notifies (RPC answers). Sessions use
   *  it to merge replay with live delivery without gaps or duplicates. */
  std::uint64_t seq = 0;

  /** A frame of its own (an RPC answer). */
  static outgoing_frame text(std::string s) {
    return outgoing_frame{std::make_shared<const std::string>(std::move(s)), nullptr, 0};
  }
  std::size_t size() const { return (head ? head->size() : 0) + (tail ? tail->size() : 0); }
};

/** The shared part: `<data_json>}, "call_id": "<call_id>"}, "response": null}`. */
std::shared_ptr<const std::string> notify_tail(std::string_view data_json,
                                               std::string_view call_id);

/** The per-session part, up to and including `"data": `. */
std::string notify_head(std::string_view subscription_id, std::string_view subscriber_id,
                        std::string_view topic);

}  // namespace pdl::server
