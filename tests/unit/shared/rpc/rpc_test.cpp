#include "shared/rpc/rpc.hpp"

#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pdl::rpc {
namespace {

// Frames recorded from OPAL 0.9.7 (opal-wire.md).
constexpr std::string_view ping_request =
    R"({"request": {"method": "_ping_", "arguments": {}, "call_id": "31d5a5df95494b81a6f2a26c7f350937"}, "response": null})";
constexpr std::string_view ping_response =
    R"({"request": null, "response": {"result": "pong", "result_type": "str", "call_id": "31d5a5df95494b81a6f2a26c7f350937"}})";
constexpr std::string_view subscribe_request =
    R"({"request": {"method": "subscribe", "arguments": {"topics": ["billing", "users"]}, "call_id": "87e0506c782d471f96ddd3b61ac5622f"}, "response": null})";
constexpr std::string_view subscribe_response =
    R"({"request": null, "response": {"result": true, "result_type": "bool", "call_id": "87e0506c782d471f96ddd3b61ac5622f"}})";
constexpr std::string_view notify_data =
    R"({"id": null, "entries": [{"url": "http://127.0.0.1:8090/users", "config": {"headers": {"authorization": "bearer secret-token"}}, "topics": ["users", "billing"], "dst_path": "", "save_method": "PUT", "data": null}], "reason": "", "callback": {"callbacks": []}})";
constexpr std::string_view notify_request =
    R"({"request": {"method": "notify", "arguments": {"subscription": {"id": "f78c5ee660a14d6dabab8e93b5f3c038", "subscriber_id": "d8e5b006c59d423d9363c2c9d688a525", "topic": "billing", "notifier_id": null}, "data": {"id": null, "entries": [{"url": "http://127.0.0.1:8090/users", "config": {"headers": {"authorization": "bearer secret-token"}}, "topics": ["users", "billing"], "dst_path": "", "save_method": "PUT", "data": null}], "reason": "", "callback": {"callbacks": []}}}, "call_id": "25bd910cf91b41ff84be5895f7bceaa6"}, "response": null})";
constexpr std::string_view notify_answer =
    R"({"request": null, "response": {"result": "None", "result_type": "str", "call_id": "25bd910cf91b41ff84be5895f7bceaa6"}})";

TEST(rpc_decode, ping_request_from_the_wire) {
  frame f = decode(ping_request);
  ASSERT_TRUE(f.req.has_value());
  EXPECT_FALSE(f.resp.has_value());
  EXPECT_EQ(f.req->method, "_ping_");
  EXPECT_EQ(f.req->arguments_json, "{}");
  EXPECT_EQ(f.req->call_id, "31d5a5df95494b81a6f2a26c7f350937");
}

TEST(rpc_encode, round_trips_the_recorded_frames_byte_for_byte) {
  frame p = decode(ping_request);
  EXPECT_EQ(encode_request(p.req->method, p.req->arguments_json, p.req->call_id), ping_request);
  frame pr = decode(ping_response);
  ASSERT_TRUE(pr.resp.has_value());
  EXPECT_EQ(pr.resp->result_json, R"("pong")");
  EXPECT_EQ(pr.resp->result_type, "str");
  EXPECT_EQ(encode_response(pr.resp->result_json, pr.resp->result_type, pr.resp->call_id),
            ping_response);
  frame s = decode(subscribe_request);
  EXPECT_EQ(encode_request(s.req->method, s.req->arguments_json, s.req->call_id),
            subscribe_request);
  frame sr = decode(subscribe_response);
  EXPECT_EQ(sr.resp->result_json, "true");
  EXPECT_EQ(encode_response(sr.resp->result_json, sr.resp->result_type, sr.resp->call_id),
            subscribe_response);
  frame na = decode(notify_answer);
  EXPECT_EQ(na.resp->result_json, R"("None")");
  EXPECT_EQ(encode_response(na.resp->result_json, na.resp->result_type, na.resp->call_id),
            notify_answer);
}

TEST(rpc_encode, notify_matches_the_recorded_frame) {
  std::string args = encode_notify_arguments("f78c5ee660a14d6dabab8e93b5f3c038",
                                             "d8e5b006c59d423d9363c2c9d688a525", "billing",
                                             notify_data);
  EXPECT_EQ(encode_request("notify", args, "25bd910cf91b41ff84be5895f7bceaa6"), notify_request);
}

TEST(rpc_decode, notify_keeps_data_as_raw_text) {
  frame f = decode(notify_request);
  ASSERT_TRUE(f.req.has_value());
  EXPECT_EQ(f.req->method, "notify");
  notify_arguments n = decode_notify_arguments(f.req->arguments_json);
  EXPECT_EQ(n.topic, "billing");
  EXPECT_EQ(n.data_json, notify_data);
}

TEST(rpc_decode, tenant_prefixed_topic_is_reduced) {
  auto n = decode_notify_arguments(
      R"({"subscription": {"id": "a", "subscriber_id": "b", "topic": "app1::policy_data", "notifier_id": null}, "data": {"entries": []}})");
  EXPECT_EQ(n.topic, "policy_data");
  EXPECT_EQ(n.data_json, R"({"entries": []})");
}

TEST(rpc_decode, subscribe_topics) {
  frame f = decode(subscribe_request);
  EXPECT_EQ(decode_topics_arguments(f.req->arguments_json),
            (std::vector<std::string>{"billing", "users"}));
  EXPECT_EQ(encode_topics_arguments({"billing", "users"}), R"({"topics": ["billing", "users"]})");
}

TEST(rpc_decode, scalar_result_has_no_trailing_whitespace) {
  frame f = decode(R"({"response": {"result": 42 , "result_type": "int", "call_id": "x"}, "request": null})");
  ASSERT_TRUE(f.resp.has_value());
  EXPECT_EQ(f.resp->result_json, "42");
  EXPECT_EQ(f.resp->call_id, "x");
}

TEST(rpc_decode, null_arguments_and_call_id_are_tolerated) {
  frame f = decode(R"({"request": {"method": "ping", "arguments": null, "call_id": null}, "response": null})");
  EXPECT_EQ(f.req->arguments_json, "{}");
  EXPECT_EQ(f.req->call_id, "");
}

void expect_refused(std::string_view text, std::string_view what) {
  try {
    decode(text, 4096);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const model::invalid_input& e) {
    EXPECT_EQ(std::string(e.what()), what) << text;
  }
}

TEST(rpc_decode, refuses_bad_frames_with_the_field_named) {
  expect_refused(R"({"request": {"method": 3, "arguments": {}, "call_id": "a"}, "response": null})",
                 "request.method: expected a string");
  expect_refused(R"({"request": {"arguments": {}, "call_id": "a"}, "response": null})",
                 "request.method: field required");
  expect_refused(R"({"request": {"method": "x", "arguments": [], "call_id": "a"}})",
                 "request.arguments: expected an object");
  expect_refused(R"({"request": null, "response": null})",
                 "exactly one of request and response must be non-null");
  expect_refused(R"([1,2])", "expected an object");
  std::string long_method(300, 'm');
  expect_refused(R"({"request": {"method": ")" + long_method + R"("}})",
                 "request.method: longer than 256 bytes");
  expect_refused(std::string(5000, ' '), "frame larger than 4096 bytes");
}

TEST(rpc_decode, refuses_malformed_json) {
  EXPECT_THROW(decode(R"({"request": {"method": "x")"), model::invalid_input);
  EXPECT_THROW(decode(R"({"request": {"method": "x"}} trailing)"), model::invalid_input);
  EXPECT_THROW(decode_topics_arguments(R"({"topics": "billing"})"), model::invalid_input);
  EXPECT_THROW(decode_topics_arguments(R"({"topics": [1]})"), model::invalid_input);
  EXPECT_THROW(decode_topics_arguments(R"({})"), model::invalid_input);
  EXPECT_THROW(decode_notify_arguments(R"({"data": {}})"), model::invalid_input);
}

TEST(rpc_call_id, is_32_lowercase_hex_and_unique) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = new_call_id();
    ASSERT_EQ(id.size(), 32u);
    for (char c : id) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    }
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(rpc_encode, escapes_strings) {
  std::string frame_text = encode_request("m\"x", "{}", "c");
  auto j = nlohmann::json::parse(frame_text);
  EXPECT_EQ(j["request"]["method"], "m\"x");
  EXPECT_TRUE(j["response"].is_null());
}

}  // namespace
}  // namespace pdl::rpc
