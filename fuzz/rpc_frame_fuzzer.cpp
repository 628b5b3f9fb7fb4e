// RPC frame parser: decode() and the subscribe/notify argument decoders on arbitrary bytes, then
// encode -> decode round trips of whatever they accepted. Only invalid_input may escape.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "shared/rpc/rpc.hpp"

namespace {

using pdl::model::invalid_input;

void check_topics(std::string_view args) {
  std::vector<std::string> topics;
  try {
    topics = pdl::rpc::decode_topics_arguments(args);
  } catch (const invalid_input&) {
    return;
  }
  const auto again = pdl::rpc::decode_topics_arguments(pdl::rpc::encode_topics_arguments(topics));
  PDL_FUZZ_CHECK(again == topics, "topics round trip");
}

void check_notify(std::string_view args) {
  pdl::rpc::notify_arguments n;
  try {
    n = pdl::rpc::decode_notify_arguments(args);
  } catch (const invalid_input&) {
    return;
  }
  if (n.topic.find("::") != std::string::npos) {
    return;  // "a::b::c" is reduced once per decode, by design
  }
  const auto again = pdl::rpc::decode_notify_arguments(
      pdl::rpc::encode_notify_arguments("sub", "subscriber", n.topic, n.data_json));
  PDL_FUZZ_CHECK(again.topic == n.topic, "notify topic round trip");
  PDL_FUZZ_CHECK(again.data_json == n.data_json, "notify data round trip");
}

void check_frame(std::string_view input) {
  pdl::rpc::frame f;
  try {
    f = pdl::rpc::decode(input, 1024 * 1024);
  } catch (const invalid_input&) {
    return;
  }
  PDL_FUZZ_CHECK(f.req.has_value() != f.resp.has_value(), "exactly one of request/response");
  if (f.req) {
    const auto& r = *f.req;
    PDL_FUZZ_CHECK(!r.method.empty() && r.method.size() <= 256, "method limits");
    PDL_FUZZ_CHECK(r.call_id.size() <= 256, "call_id limit");
    const auto again =
        pdl::rpc::decode(pdl::rpc::encode_request(r.method, r.arguments_json, r.call_id));
    PDL_FUZZ_CHECK(again.req && !again.resp, "request round trip shape");
    PDL_FUZZ_CHECK(again.req->method == r.method, "method round trip");
    PDL_FUZZ_CHECK(again.req->arguments_json == r.arguments_json, "arguments round trip");
    PDL_FUZZ_CHECK(again.req->call_id == r.call_id, "call_id round trip");
    check_topics(r.arguments_json);
    check_notify(r.arguments_json);
  } else {
    const auto& r = *f.resp;
    PDL_FUZZ_CHECK(r.call_id.size() <= 256, "call_id limit");
    const auto again =
        pdl::rpc::decode(pdl::rpc::encode_response(r.result_json, r.result_type, r.call_id));
    PDL_FUZZ_CHECK(again.resp && !again.req, "response round trip shape");
    PDL_FUZZ_CHECK(again.resp->result_json == r.result_json, "result round trip");
    PDL_FUZZ_CHECK(again.resp->result_type == r.result_type, "result_type round trip");
    PDL_FUZZ_CHECK(again.resp->call_id == r.call_id, "call_id round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_frame(input);
  // The argument decoders also see raw bytes: the server calls them on whatever a frame carried.
  check_topics(input);
  check_notify(input);
  return 0;
}
