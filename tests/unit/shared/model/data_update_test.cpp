#include "shared/model/data_update.hpp"

#include <string>

#include <gtest/gtest.h>

namespace pdl::model {
namespace {

// The message a publisher would send, with one entry to fetch and one inline PATCH.
constexpr const char* opal_example = R"({"id": null,
 "entries": [{"url": "https://api.country.is/23.54.6.78", "config": {}, "topics": ["policy_data"],
              "dst_path": "/users/bob/location", "save_method": "PUT", "data": null},
             {"url": "", "config": {}, "topics": ["policy_data"], "dst_path": "/users", "save_method": "PATCH",
              "data": [{"op": "remove", "path": "/bob", "value": null, "from": null}]}],
 "reason": "user bob is deleted",
 "callback": {"callbacks": []}})";

std::string error_of(std::string_view json, const parse_limits& limits = {}) {
  try {
    parse_data_update(json, limits);
  } catch (const invalid_input& e) {
    return e.what();
  }
  return "(no error)";
}

std::string inline_entry(std::string_view fields) {
  return std::string(R"({"entries":[{"url":"",)") + std::string(fields) + "}]}";
}

TEST(parse_data_update, reads_opals_wire_example) {
  const auto u = parse_data_update(opal_example);
  EXPECT_FALSE(u.id.has_value());
  EXPECT_EQ(u.reason, "user bob is deleted");
  EXPECT_EQ(u.callback_json, R"({"callbacks": []})");
  EXPECT_FALSE(u.seq.has_value());
  ASSERT_EQ(u.entries.size(), 2u);
  const auto& fetch = u.entries[0];
  EXPECT_EQ(fetch.url, "https://api.country.is/23.54.6.78");
  EXPECT_EQ(fetch.config_json, "{}");
  EXPECT_EQ(fetch.topics, std::vector<std::string>{"policy_data"});
  EXPECT_EQ(fetch.dst_path, "/users/bob/location");
  EXPECT_EQ(fetch.method, save_method::put);
  EXPECT_FALSE(fetch.data_json.has_value());
  const auto& patch = u.entries[1];
  EXPECT_EQ(patch.method, save_method::patch);
  EXPECT_EQ(patch.data_json, R"([{"op": "remove", "path": "/bob", "value": null, "from": null}])");
}

TEST(parse_data_update, applies_opal_defaults) {
  const auto u = parse_data_update(R"({"entries":[{"url":"http://src/a"}]})");
  ASSERT_EQ(u.entries.size(), 1u);
  const auto& e = u.entries[0];
  EXPECT_EQ(e.topics, std::vector<std::string>{"policy_data"});
  EXPECT_EQ(e.dst_path, "");
  EXPECT_EQ(e.method, save_method::put);
  EXPECT_FALSE(e.config_json.has_value());
  EXPECT_FALSE(e.data_json.has_value());
  EXPECT_EQ(u.callback_json, R"({"callbacks":[]})");
}

TEST(parse_data_update, keeps_inline_data_byte_for_byte_with_its_nulls) {
  const std::string data = R"({"a": null, "b": [1, null, {"c": null}], "d": "\u00e9\n", "e": 1.50})";
  const auto u = parse_data_update(inline_entry(R"("dst_path":"/x","data":)" + data));
  EXPECT_EQ(u.entries[0].data_json, data);
}

TEST(parse_data_update, accepts_scalar_data_below_the_root_and_null_as_absent) {
  auto u = parse_data_update(inline_entry(R"("dst_path":"/flag","data":true)"));
  EXPECT_EQ(u.entries[0].data_json, "true");
  u = parse_data_update(inline_entry(R"("dst_path":"/name","data":"bob" )"));
  EXPECT_EQ(u.entries[0].data_json, R"("bob")");
  u = parse_data_update(R"({"entries":[{"url":"https://s/x","data":null}]})");
  EXPECT_FALSE(u.entries[0].data_json.has_value());
}

TEST(parse_data_update, save_method_is_case_insensitive) {
  auto u = parse_data_update(inline_entry(R"("dst_path":"/a","save_method":"patch","data":[])"));
  EXPECT_EQ(u.entries[0].method, save_method::patch);
  u = parse_data_update(inline_entry(R"("save_method":"Put","data":{})"));
  EXPECT_EQ(u.entries[0].method, save_method::put);
}

TEST(parse_data_update, ignores_unknown_fields_but_checks_they_are_json) {
  const auto u = parse_data_update(
      R"({"extra":{"deep":[1,2,{"x":null}]},"entries":[{"url":"https://s/","future":true}]})");
  EXPECT_EQ(u.entries[0].url, "https://s/");
  EXPECT_NE(error_of(R"({"extra":[1,tru],"entries":[{"url":"https://s/"}]})")
                .find("extra: malformed JSON"),
            std::string::npos);
}

TEST(parse_data_update, reads_seq_extension) {
  auto u = parse_data_update(R"({"entries":[{"url":"https://s/"}],"seq":18446744073709551615})");
  EXPECT_EQ(u.seq, 18446744073709551615ull);
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/"}],"seq":-1})"),
            "seq: expected a non-negative integer");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/"}],"seq":1.5})"),
            "seq: expected a non-negative integer");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/"}],"seq":"1"})"),
            "seq: expected a non-negative integer, got string");
}

TEST(parse_data_update, refuses_malformed_json_saying_so) {
  for (const char* doc : {R"({"entries":[)", R"({"entries":[{"url":"x"]})", "", "{,}",
                          R"({"entries":[{"url":"https://s/","data":{"a":tru}}]})",
                          R"({"entries":[{"url":"https://s/"}]} trailing)",
                          R"({"entries":[{"url":"https://s/"}]}{})"}) {
    EXPECT_NE(error_of(doc).find("malformed JSON"), std::string::npos)
        << doc << " -> " << error_of(doc);
  }
}

TEST(parse_data_update, refuses_wrong_types_with_the_json_path) {
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/","topics":["a",1]}]})"),
            "entries[0].topics[1]: expected a string, got number");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/"},{"url":5}]})"),
            "entries[1].url: expected a string, got number");
  EXPECT_EQ(error_of(R"({"entries":{}})"), "entries: expected an array of entries, got object");
  EXPECT_EQ(error_of(R"({"entries":[3]})"), "entries[0]: expected an object, got number");
  EXPECT_EQ(error_of(R"({"id":7,"entries":[]})"), "id: expected a string, got number");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/","config":[]}]})"),
            "entries[0].config: expected an object, got array");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/","topics":"a"}]})"),
            "entries[0].topics: expected an array of strings, got string");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/"}],"callback":"x"})"),
            "callback: expected an object, got string");
}

TEST(parse_data_update, refuses_a_scalar_or_array_document) {
  EXPECT_EQ(error_of("42"), "expected a JSON object at the top level, got number");
  EXPECT_EQ(error_of("[]"), "expected a JSON object at the top level, got array");
}

TEST(parse_data_update, refuses_missing_and_empty_entries) {
  EXPECT_EQ(error_of(R"({"id":"x"})"), "entries: required field is missing");
  EXPECT_EQ(error_of(R"({"entries":[]})"), "entries: at least one entry is required");
  EXPECT_EQ(error_of(R"({"entries":[{"dst_path":"/a"}]})"),
            "entries[0].url: required field is missing");
}

TEST(parse_data_update, refuses_unknown_save_method) {
  EXPECT_EQ(error_of(inline_entry(R"("save_method":"POST","data":{})")),
            "entries[0].save_method: unknown save_method 'POST' (expected PUT or PATCH)");
}

TEST(parse_data_update, refuses_patch_data_that_is_not_a_list_of_supported_ops) {
  EXPECT_EQ(error_of(inline_entry(R"("dst_path":"/a","save_method":"PATCH","data":{"op":"add"})")),
            "entries[0].data: PATCH data must be a list of JSON-patch operations");
  EXPECT_EQ(
      error_of(inline_entry(
          R"("dst_path":"/a","save_method":"PATCH","data":[{"op":"add","path":"/x","value":1},{"op":"move","from":"/a","path":"/b"}])")),
      "entries[0].data[1].op: 'move' is not supported: OPA accepts only add, remove and replace");
  EXPECT_EQ(error_of(inline_entry(R"("save_method":"PATCH","data":[{"path":"/x"}])")),
            "entries[0].data[0].op: required field is missing");
  EXPECT_EQ(error_of(inline_entry(R"("save_method":"PATCH","data":[{"op":"remove"}])")),
            "entries[0].data[0].path: required field is missing");
  EXPECT_EQ(error_of(inline_entry(R"("save_method":"PATCH","data":["add"])")),
            "entries[0].data[0]: expected a JSON-patch operation object, got string");
  // Every op OPA supports, with "value" optional as OPA allows.
  const auto u = parse_data_update(inline_entry(
      R"("save_method":"PATCH","data":[{"op":"add","path":"/a"},{"op":"replace","path":"/b","value":null},{"op":"remove","path":""}])"));
  EXPECT_EQ(u.entries[0].method, save_method::patch);
}

TEST(parse_data_update, refuses_a_non_object_put_at_the_root) {
  EXPECT_EQ(error_of(inline_entry(R"("data":[1])")),
            "entries[0].data: a PUT at the root of the store must be an object (got array)");
  EXPECT_EQ(error_of(inline_entry(R"("dst_path":"/","data":5)")),
            "entries[0].data: a PUT at the root of the store must be an object (got number)");
  EXPECT_EQ(error_of(inline_entry(R"("dst_path":".","data":"s")")),
            "entries[0].data: a PUT at the root of the store must be an object (got string)");
}

TEST(parse_data_update, fetching_entries_need_an_http_url) {
  EXPECT_EQ(error_of(R"({"entries":[{"url":""}]})"),
            "entries[0].url: an entry needs inline data or an http(s) url");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"file:///etc/passwd"}]})"),
            "entries[0].url: 'file:///etc/passwd' is not an http:// or https:// url");
  EXPECT_NO_THROW(parse_data_update(R"({"entries":[{"url":"HTTPS://Example.com/x"}]})"));
}

TEST(parse_data_update, a_malformed_http_url_is_refused_precisely_without_its_credentials) {
  EXPECT_EQ(error_of(R"({"entries":[{"url":"http://src:0/x?token=t"}]})"),
            "entries[0].url: 'http://src:0/x' is not a valid url: the port is not a number from 1 "
            "to 65535");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://u:s3cret@[::1/x"}]})"),
            "entries[0].url: 'https://[::1/x' is not a valid url: the IPv6 address has no closing "
            "']'");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"http://h/a%zz"}]})"),
            "entries[0].url: 'http://h/a%zz' is not a valid url: invalid percent-escape in the "
            "path ('%' must start %XX with two hex digits; write a literal '%' as %25)");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"ftp://u:s3cret@h/x"}]})"),
            "entries[0].url: 'ftp://h/x' is not an http:// or https:// url");
  // What OPAL's client fetches stays accepted, and is forwarded as written.
  for (const char* url : {"HTTP://[::1]:8080/x", "http://u:p%40ss@Host/x?q=[1]|x#f",
                          "http://h/a b", "https://h:/x", "http://127.1/"}) {
    const auto u = parse_data_update(std::string(R"({"entries":[{"url":")") + url + R"("}]})");
    EXPECT_EQ(u.entries[0].url, url);
  }
}

TEST(parse_data_update, checks_the_fetcher_config_of_fetching_entries) {
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/","config":{"headers":{"X":1}}}]})"),
            "entries[0].config.headers.X: expected a string, got number");
}

TEST(parse_data_update, refuses_empty_topics_and_bad_paths) {
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/","topics":[]}]})"),
            "entries[0].topics: at least one topic is required");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"https://s/","topics":["a",""]}]})"),
            "entries[0].topics[1]: a topic must not be empty");
  EXPECT_NE(error_of(R"({"entries":[{"url":"https://s/","dst_path":"/a//b"}]})")
                .find("entries[0].dst_path: "),
            std::string::npos);
  EXPECT_NE(error_of(R"({"entries":[{"url":"https://s/","dst_path":"/a/../b"}]})")
                .find("entries[0].dst_path: "),
            std::string::npos);
}

TEST(parse_data_update, enforces_limits) {
  parse_limits limits;
  limits.max_entries = 2;
  limits.max_topics_per_entry = 2;
  limits.max_string_bytes = 12;
  limits.max_depth = 3;
  EXPECT_EQ(error_of(R"({"entries":[{"url":"http://a/"},{"url":"http://a/"},{"url":"http://a/"}]})",
                     limits),
            "entries: more than 2 entries");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"http://a/","topics":["a","b","c"]}]})", limits),
            "entries[0].topics: more than 2 topics");
  EXPECT_EQ(error_of(R"({"entries":[{"url":"http://a/long/url"}]})", limits),
            "entries[0].url: longer than 12 bytes");
  EXPECT_NO_THROW(parse_data_update(inline_entry(R"("data":{"a":[{"b":1}]})"), limits));
  EXPECT_NE(error_of(inline_entry(R"("data":{"a":[{"b":[1]}]})"), limits)
                .find("entries[0].data: malformed JSON: nesting deeper than 3 levels"),
            std::string::npos)
      << error_of(inline_entry(R"("data":{"a":[{"b":[1]}]})"), limits);
}

TEST(parse_data_update, refuses_documents_over_64_mib) {
  const std::string huge(64 * 1024 * 1024 + 1, ' ');
  EXPECT_EQ(error_of(huge), "document larger than 64 MiB");
}

TEST(parse_data_update, handles_deeply_nested_input_without_crashing) {
  std::string deep = inline_entry(R"("data":)" + std::string(5000, '[') + std::string(5000, ']'));
  EXPECT_NE(error_of(deep).find("malformed JSON"), std::string::npos) << error_of(deep);
  std::string unknown = R"({"x":)" + std::string(5000, '[') + std::string(5000, ']') +
                        R"(,"entries":[{"url":"https://s/"}]})";
  EXPECT_NE(error_of(unknown).find("malformed JSON"), std::string::npos) << error_of(unknown);
}

TEST(to_json, uses_opals_field_order_and_emits_nulls) {
  data_update u;
  data_source_entry e;
  e.url = "https://s/x";
  e.dst_path = "/users";
  u.entries.push_back(e);
  EXPECT_EQ(to_json(u),
            R"({"id":null,"entries":[{"url":"https://s/x","config":null,"topics":["policy_data"],)"
            R"("dst_path":"/users","save_method":"PUT","data":null}],"reason":null,)"
            R"("callback":{"callbacks":[]}})");
  u.seq = 7;
  u.id = "abc";
  const auto json = to_json(u);
  EXPECT_TRUE(json.ends_with(R"(,"callback":{"callbacks":[]},"seq":7})")) << json;
  EXPECT_TRUE(json.starts_with(R"({"id":"abc","entries":)")) << json;
}

TEST(to_json, escapes_strings) {
  data_source_entry e;
  e.url = "https://s/\"q\"\\\n\x01";
  EXPECT_TRUE(to_json(e).starts_with(R"({"url":"https://s/\"q\"\\\n\u0001","config":null,)"))
      << to_json(e);
}

TEST(to_json, round_trips_through_the_parser) {
  auto u = parse_data_update(opal_example);
  EXPECT_EQ(parse_data_update(to_json(u)), u);

  data_update v;
  v.id = "id-\"1\"";
  v.reason = "r\u00e9ason\t";
  v.seq = 42;
  v.callback_json = R"({"callbacks":["http://cb/"]})";
  data_source_entry fetch;
  fetch.url = "https://src/data";
  fetch.config_json = R"({"headers":{"Authorization":"Bearer x"},"method":"post"})";
  fetch.topics = {"a", "a/b", "scope:data:t"};
  fetch.dst_path = "/x/y";
  v.entries.push_back(fetch);
  data_source_entry put;
  put.data_json = R"({"k":[null,1.5e3,"\u00e9"]})";
  v.entries.push_back(put);
  data_source_entry patch;
  patch.dst_path = "/a";
  patch.method = save_method::patch;
  patch.data_json = R"([{"op":"add","path":"/n","value":null}])";
  v.entries.push_back(patch);
  EXPECT_NO_THROW(validate(v));
  EXPECT_EQ(parse_data_update(to_json(v)), v);
}

TEST(validate, checks_programmatic_updates) {
  data_update u;
  EXPECT_THROW(validate(u), invalid_input);
  data_source_entry e;
  e.data_json = "{\"a\":";  // a publisher handed us broken JSON
  u.entries.push_back(e);
  try {
    validate(u);
    FAIL() << "accepted malformed data";
  } catch (const invalid_input& err) {
    EXPECT_EQ(err.path(), "entries[0].data");
  }
  u.entries[0].data_json = "{}";
  EXPECT_NO_THROW(validate(u));
  u.entries[0].config_json = "{\"headers\":";
  try {
    validate(u);
    FAIL() << "accepted a malformed config";
  } catch (const invalid_input& err) {
    EXPECT_EQ(err.path(), "entries[0].config");
  }
  u.entries[0].config_json.reset();
  u.callback_json = "[]";
  EXPECT_THROW(validate(u), invalid_input);
}

TEST(data_source_config, round_trips_with_polling_intervals) {
  const auto entries = parse_data_source_config(
      R"({"entries":[{"url":"https://src/a","topics":["policy_data"],"dst_path":"/a",)"
      R"("periodic_update_interval":2.5},{"url":"","data":{"x":1},"periodic_update_interval":null}]})");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].periodic_update_interval, 2.5);
  EXPECT_FALSE(entries[1].periodic_update_interval.has_value());
  const auto json = data_source_config_to_json(entries);
  EXPECT_NE(json.find(R"("data":null,"periodic_update_interval":2.5})"), std::string::npos) << json;
  EXPECT_EQ(parse_data_source_config(json), entries);
}

TEST(data_source_config, allows_an_empty_list_and_checks_entries) {
  EXPECT_TRUE(parse_data_source_config(R"({"entries":[]})").empty());
  EXPECT_TRUE(parse_data_source_config("{}").empty());
  EXPECT_EQ(data_source_config_to_json({}), R"({"entries":[]})");
  try {
    parse_data_source_config(R"({"entries":[{"url":"https://s/","periodic_update_interval":0}]})");
    FAIL() << "accepted a zero interval";
  } catch (const invalid_input& e) {
    EXPECT_EQ(e.path(), "entries[0].periodic_update_interval");
  }
  EXPECT_THROW(parse_data_source_config(R"({"entries":[{"url":"ftp://s/"}]})"), invalid_input);
}

TEST(save_method, has_opal_spelling) {
  EXPECT_EQ(to_string(save_method::put), "PUT");
  EXPECT_EQ(to_string(save_method::patch), "PATCH");
}

}  // namespace
}  // namespace pdl::model

namespace pdl::model {
namespace {

TEST(parse_data_update, fetched_by_and_blob_are_read_and_written_only_when_set) {
  const auto u = parse_data_update(
      R"({"entries":[{"url":"https://s/a","fetched_by":"server",)"
      R"("blob":{"sha256":")" + std::string(64, 'a') + R"(","size":12,"extra":1}}]})");
  ASSERT_EQ(u.entries.size(), 1U);
  EXPECT_EQ(u.entries[0].fetched_by, fetched_by::server);
  ASSERT_TRUE(u.entries[0].blob);
  EXPECT_EQ(u.entries[0].blob->size, 12U);
  const std::string out = to_json(u);
  EXPECT_NE(out.find(R"("fetched_by":"server","blob":{"sha256":")" + std::string(64, 'a') +
                     R"(","size":12})"),
            std::string::npos)
      << out;
  EXPECT_EQ(parse_data_update(out), u);
  // An OPAL-shaped entry comes out without the extra fields.
  const std::string plain = to_json(parse_data_update(R"({"entries":[{"url":"https://s/"}]})"));
  EXPECT_EQ(plain.find("fetched_by"), std::string::npos);
  EXPECT_EQ(plain.find("blob"), std::string::npos);
  EXPECT_FALSE(parse_data_update(R"({"entries":[{"url":"https://s/","fetched_by":null}]})")
                   .entries[0]
                   .fetched_by);
}

TEST(parse_data_update, bad_fetched_by_and_blob_name_the_field) {
  auto error = [](const std::string& json) {
    try {
      parse_data_update(json);
    } catch (const invalid_input& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error(R"({"entries":[{"url":"https://s/","fetched_by":"everyone"}]})"),
            "entries[0].fetched_by: unknown value 'everyone' (expected server or agent)");
  EXPECT_EQ(error(R"({"entries":[{"url":"https://s/","blob":{"sha256":"ABC","size":1}}]})"),
            "entries[0].blob.sha256: expected 64 lower-case hexadecimal digits");
  EXPECT_EQ(error(R"({"entries":[{"url":"https://s/","blob":{"sha256":")" +
                  std::string(64, 'b') + R"(","size":-1}}]})"),
            "entries[0].blob.size: expected a non-negative integer");
  EXPECT_EQ(error(R"({"entries":[{"url":"https://s/","blob":{"size":1}}]})"),
            "entries[0].blob.sha256: required field is missing");
}

}  // namespace
}  // namespace pdl::model
