#include "tests/fakes/opa_standin/opa_emulator.hpp"

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/log/log.hpp"
#include "tests/fakes/opa_standin/loopback_client.hpp"
#include "tests/fakes/opa_standin/loopback_server.hpp"

namespace pdl::fakes {
namespace {

using nlohmann::json;
using headers_t = std::vector<std::pair<std::string, std::string>>;

// The stand-in on an ephemeral port, served by its own thread.
class standin : public ::testing::Test {
 protected:
  void SetUp() override {
    pdl::log::init("warn");
    loopback_server::options opts;
    opts.logger = "test.standin";
    server_ = loopback_server::create(opts, [this](const http_request& r) {
      return emulator_.handle(r);
    });
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }
  client_reply call(const std::string& method, const std::string& target,
                    const std::optional<std::string>& body = std::nullopt,
                    const headers_t& headers = {}) {
    return http_call(server_->port(), method, target, body, headers);
  }
  std::uint16_t port() const { return server_->port(); }

  opa_emulator emulator_;
  std::unique_ptr<loopback_server> server_;
  std::thread thread_;
};

// How a row's response body is checked.
enum class expect {
  empty,      // no body and no Content-Type (204, 304, 405, 301 for non-GET)
  compact,    // exactly text + "\n", application/json
  error,      // exactly Go's MarshalIndent of text + "\n", application/json
  text,       // exactly text
  prefix,     // starts with text
  custom,     // checked by the row's function
};

struct row {
  std::string id;
  std::string method;
  std::string target;
  std::optional<std::string> body;
  headers_t headers;
  int status;
  expect kind;
  std::string text;
  std::function<void(const client_reply&)> check = {};
};

// Go's json.MarshalIndent(v, "", "  ") for the flat error objects of the table: the same
// layout as nlohmann's dump(2) (keys "code" < "message" sort the same).
std::string go_pretty(const std::string& compact) { return json::parse(compact).dump(2) + "\n"; }

const std::string policy_x =
    "package example.authz\n\ndefault allow := false\n\nallow if {\n\tinput.user == \"alice\"\n}"
    "\n\nallow if {\n\tinput.user in data.admins\n}\n";

const headers_t text_plain = {{"Content-Type", "text/plain"}};

// opa-data-api.md "Full observed table", in order. Rows that need Rego evaluation or
// policy/data conflict checks are left out (103-104, 106-109, 111-112, 114-122, 125, 129,
// 151, 159-160, 163); the stand-in documents that gap.
std::vector<row> observed_table() {
  return {
      {"01", "PUT", "/v1/data/a/b", R"({"x":1,"arr":[1,2]})", {}, 204, expect::empty, ""},
      {"02", "GET", "/v1/data/a/b", {}, {}, 200, expect::compact, R"({"result":{"arr":[1,2],"x":1}})"},
      {"03", "GET", "/v1/data/a", {}, {}, 200, expect::compact, R"({"result":{"b":{"arr":[1,2],"x":1}}})"},
      {"04", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/c","value":2}])", {}, 204, expect::empty, ""},
      {"05", "PATCH", "/v1/data/a", R"([{"op":"replace","path":"/b/x","value":42}])", {}, 204, expect::empty, ""},
      {"06", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/b/arr/-","value":3}])", {}, 204, expect::empty, ""},
      {"07", "PATCH", "/v1/data/a", R"([{"op":"remove","path":"/c"}])", {}, 204, expect::empty, ""},
      {"08", "GET", "/v1/data/a", {}, {}, 200, expect::compact, R"({"result":{"b":{"arr":[1,2,3],"x":42}}})"},
      {"09", "DELETE", "/v1/data/a/b", {}, {}, 204, expect::empty, ""},
      {"10", "GET", "/v1/data/a/b", {}, {}, 200, expect::compact, "{}"},
      {"11", "GET", "/v1/data/a", {}, {}, 200, expect::compact, R"({"result":{}})"},
      {"12", "DELETE", "/v1/data/a/b", {}, {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /a/b: document does not exist"})"},
      {"13", "DELETE", "/v1/data/nope/x/y", {}, {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /nope/x/y: document does not exist"})"},
      {"20", "PUT", "/v1/data/p/q/r", R"({"v":1})", {}, 204, expect::empty, ""},
      {"21", "GET", "/v1/data/p", {}, {}, 200, expect::compact, R"({"result":{"q":{"r":{"v":1}}}})"},
      {"22", "PUT", "/v1/data/s", "7", {}, 204, expect::empty, ""},
      {"23", "PUT", "/v1/data/s/t", "1", {}, 404, expect::error, R"({"code": "resource_conflict", "message": "storage_write_conflict_error: /s"})"},
      {"24", "PUT", "/v1/data/arrdoc", "[10,20]", {}, 204, expect::empty, ""},
      {"25", "PUT", "/v1/data/arrdoc/0", "99", {}, 204, expect::empty, ""},
      {"26", "GET", "/v1/data/arrdoc", {}, {}, 200, expect::compact, R"({"result":[99,10,20]})"},
      {"27", "PUT", "/v1/data/arrdoc/5", "1", {}, 404, expect::error, R"({"code": "resource_conflict", "message": "storage_write_conflict_error: /arrdoc"})"},
      {"28", "PUT", "/v1/data/arrdoc/x", "1", {}, 404, expect::error, R"({"code": "resource_conflict", "message": "storage_write_conflict_error: /arrdoc"})"},
      {"29", "PUT", "/v1/data/p/q/r", R"("str")", {}, 204, expect::empty, ""},
      {"30", "PUT", "/v1/data/p/q/r", "1", {{"If-None-Match", "*"}}, 304, expect::empty, ""},
      {"31", "PUT", "/v1/data/p/q/new", "1", {{"If-None-Match", "*"}}, 204, expect::empty, ""},
      {"32", "PUT", "/v1/data/bad", R"({"x":)", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "unexpected EOF"})"},
      {"33", "PUT", "/v1/data/bad", "not json", {}, 400, expect::error, R"j({"code": "invalid_parameter", "message": "invalid character 'o' in literal null (expecting 'u')"})j"},
      {"34", "PUT", "/v1/data/emptybody", {}, {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "EOF"})"},
      {"34b", "GET", "/v1/data/emptybody", {}, {}, 200, expect::compact, "{}"},
      {"35", "PUT", "/v1/data", "1", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "storage_invalid_patch_error: root must be object"})"},
      {"36", "PUT", "/v1/data", "[1]", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "storage_invalid_patch_error: root must be object"})"},
      {"37", "PUT", "/v1/data", "null", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "storage_invalid_patch_error: root must be object"})"},
      {"38", "PUT", "/v1/data", R"({"root":{"k":"v"}})", {}, 204, expect::empty, ""},
      {"39", "GET", "/v1/data", {}, {}, 200, expect::compact, R"({"result":{"root":{"k":"v"}}})"},
      {"40", "PUT", "/v1/data/", R"("x")", {}, 301, expect::empty, ""},
      {"41", "PUT", "/v1/data/nul", "null", {}, 204, expect::empty, ""},
      {"42", "GET", "/v1/data/nul", {}, {}, 200, expect::compact, R"({"result":null})"},
      {"43", "PUT", "/v1/data", "{", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "unexpected EOF"})"},
      {"44", "GET", "/v1/data/a/", {}, {}, 301, expect::prefix, R"(<a href="/v1/data/a">Moved Permanently</a>.)"},
      {"45", "PUT", "/v1/data/zz/", "1", {}, 301, expect::empty, ""},
      {"46", "PUT", "/v1/data/noct", R"({"a":1})", {}, 204, expect::empty, ""},
      {"47", "GET", "/v1/data/noct", {}, {}, 200, expect::compact, R"({"result":{"a":1}})"},
      {"50", "PUT", "/v1/data", R"({"a":{"b":{"x":1}},"arr":[1,2]})", {}, 204, expect::empty, ""},
      {"51", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/missing/x","value":1}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /a/missing/x: document does not exist"})"},
      {"52", "PATCH", "/v1/data/nosuch", R"([{"op":"add","path":"/x","value":1}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /nosuch/x: document does not exist"})"},
      {"53", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/new","value":1}])", {}, 204, expect::empty, ""},
      {"54", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/new","value":2}])", {}, 204, expect::empty, ""},
      {"55", "PATCH", "/v1/data/a", R"([{"op":"replace","path":"/nokey","value":1}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /a/nokey: document does not exist"})"},
      {"56", "PATCH", "/v1/data/a", R"([{"op":"replace","path":"/no/deep","value":1}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /a/no/deep: document does not exist"})"},
      {"57", "PATCH", "/v1/data/a", R"([{"op":"remove","path":"/nokey"}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /a/nokey: document does not exist"})"},
      {"58", "PATCH", "/v1/data/a", R"([{"op":"remove","path":"/no/deep"}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /a/no/deep: document does not exist"})"},
      {"59", "PATCH", "/v1/data/nosuch", R"([{"op":"replace","path":"/x","value":1}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /nosuch/x: document does not exist"})"},
      {"60", "PATCH", "/v1/data/nosuch", R"([{"op":"remove","path":"/x"}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /nosuch/x: document does not exist"})"},
      {"61", "PATCH", "/v1/data", R"([{"op":"add","path":"/top","value":{"k":1}}])", {}, 204, expect::empty, ""},
      {"62", "PATCH", "/v1/data/a", R"([{"op":"add","path":"","value":{"w":1}}])", {}, 204, expect::empty, ""},
      {"63", "GET", "/v1/data/a", {}, {}, 200, expect::compact, R"({"result":{"w":1}})"},
      {"64", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/","value":5}])", {}, 204, expect::empty, ""},
      {"65", "GET", "/v1/data", {}, {}, 200, expect::compact, R"({"result":{"a":5,"arr":[1,2],"top":{"k":1}}})"},
      {"70", "PUT", "/v1/data", R"({"a":{"b":{"x":1}},"arr":[1,2]})", {}, 204, expect::empty, ""},
      {"71", "PATCH", "/v1/data/a", R"([{"op":)", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "unexpected EOF"})"},
      {"72", "PATCH", "/v1/data/a", R"({"op":"add","path":"/x","value":1})", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "json: cannot unmarshal object into Go value of type []types.PatchV1"})"},
      {"73", "PATCH", "/v1/data/a", "[]", {}, 204, expect::empty, ""},
      {"74", "PATCH", "/v1/data/a", R"([{"op":"frob","path":"/x","value":1}])", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "bad patch operation: frob"})"},
      {"75", "PATCH", "/v1/data/a", R"([{"op":"test","path":"/b/x","value":1}])", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "bad patch operation: test"})"},
      {"76", "PATCH", "/v1/data/a", R"([{"op":"move","from":"/b","path":"/c"}])", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "bad patch operation: move"})"},
      {"77", "PATCH", "/v1/data/a", R"([{"op":"copy","from":"/b","path":"/c"}])", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "bad patch operation: copy"})"},
      {"78", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/nv"}])", {}, 204, expect::empty, ""},
      {"78b", "GET", "/v1/data/a/nv", {}, {}, 200, expect::compact, R"({"result":null})"},
      {"79", "PATCH", "/v1/data/a", R"([{"op":"add","path":"noslash","value":1}])", {}, 204, expect::empty, ""},
      {"79b", "GET", "/v1/data/a", {}, {}, 200, expect::compact, R"({"result":{"b":{"x":1},"noslash":1,"nv":null}})"},
      {"80", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/ok","value":1},{"op":"remove","path":"/zzz"}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /a/zzz: document does not exist"})"},
      {"81", "GET", "/v1/data/a", {}, {}, 200, expect::compact, R"({"result":{"b":{"x":1},"noslash":1,"nv":null}})"},
      {"82", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/ct","value":1}])", {{"Content-Type", "application/json"}}, 204, expect::empty, ""},
      {"83", "PATCH", "/v1/data/a", R"([{"op":"add","path":"/ct2","value":1}])", text_plain, 204, expect::empty, ""},
      {"84", "PATCH", "/v1/data/arr", R"([{"op":"add","path":"/0","value":0}])", {}, 204, expect::empty, ""},
      {"85", "PATCH", "/v1/data/arr", R"([{"op":"add","path":"/9","value":9}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /arr/9: array index out of range"})"},
      {"86", "PATCH", "/v1/data/arr", R"([{"op":"replace","path":"/1","value":"r"}])", {}, 204, expect::empty, ""},
      {"87", "PATCH", "/v1/data/arr", R"([{"op":"remove","path":"/0"}])", {}, 204, expect::empty, ""},
      {"88", "PATCH", "/v1/data/arr", R"([{"op":"remove","path":"/9"}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /arr/9: array index out of range"})"},
      {"89", "PATCH", "/v1/data/arr", R"([{"op":"replace","path":"/x","value":1}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /arr/x: array index must be integer"})"},
      {"90", "GET", "/v1/data/arr", {}, {}, 200, expect::compact, R"({"result":["r",2]})"},
      {"91", "PATCH", "/v1/data", R"([{"op":"replace","path":"","value":1}])", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "storage_invalid_patch_error: root must be object"})"},
      {"92", "PATCH", "/v1/data", R"([{"op":"replace","path":"","value":{"fresh":true}}])", {}, 204, expect::empty, ""},
      {"93", "GET", "/v1/data", {}, {}, 200, expect::compact, R"({"result":{"fresh":true}})"},
      {"94", "PATCH", "/v1/data", R"([{"op":"remove","path":""}])", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "storage_invalid_patch_error: root cannot be removed"})"},
      {"95", "GET", "/v1/data", {}, {}, 200, expect::compact, R"({"result":{"fresh":true}})"},
      {"96", "PATCH", "/v1/data", R"([{"op":"add","path":"/s","value":1},{"op":"add","path":"/s/t","value":1}])", {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /t: document does not exist"})"},
      {"97", "PATCH", "/v1/data/a", {}, {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "EOF"})"},
      {"100", "PUT", "/v1/policies/x", policy_x, text_plain, 200, expect::compact, "{}"},
      {"101", "GET", "/v1/policies/x", {}, {}, 200, expect::custom, "",
       [](const client_reply& r) {
         auto body = json::parse(r.body);
         EXPECT_EQ(body["result"]["id"], "x");
         EXPECT_EQ(body["result"]["raw"], policy_x);
       }},
      {"102", "GET", "/v1/policies", {}, {}, 200, expect::custom, "",
       [](const client_reply& r) {
         auto body = json::parse(r.body);
         ASSERT_EQ(body["result"].size(), 1u);
         EXPECT_EQ(body["result"][0]["id"], "x");
         EXPECT_EQ(body["result"][0]["raw"], policy_x);
       }},
      {"105", "PUT", "/v1/data/admins", R"(["bob"])", {}, 204, expect::empty, ""},
      {"110", "POST", "/v1/data/example/authz/allow", R"({"input":)", {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "body contains malformed input document: unexpected EOF"})"},
      {"113", "POST", "/v1/data/example/authz/nosuchrule", R"({"input":{}})", {}, 200, expect::compact, "{}"},
      {"123", "PUT", "/v1/data/example", R"({"z":1})", {}, 204, expect::empty, ""},
      {"124", "PATCH", "/v1/data", R"([{"op":"add","path":"/example","value":{}}])", {}, 204, expect::empty, ""},
      {"126", "GET", "/v1/policies/nosuch", {}, {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: policy id \"nosuch\""})"},
      {"127", "DELETE", "/v1/policies/nosuch", {}, {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: policy id \"nosuch\""})"},
      {"128", "PUT", "/v1/policies/dir/sub/z.rego", "package z\nq := 2", {}, 200, expect::compact, "{}"},
      {"130", "DELETE", "/v1/policies/dir/sub/z.rego", {}, {}, 200, expect::compact, "{}"},
      {"131", "DELETE", "/v1/policies/x", {}, {}, 200, expect::compact, "{}"},
      {"132", "POST", "/v1/data/example/authz/allow", R"({"input":{"user":"alice"}})", {}, 200, expect::compact, "{}"},
      {"133", "PUT", "/v1/policies/empty", {}, {}, 400, expect::error, R"({"code": "invalid_parameter", "message": "empty:0: rego_parse_error: empty module"})"},
      {"134", "GET", "/health", {}, {}, 200, expect::compact, "{}"},
      {"135", "GET", "/health?bundles", {}, {}, 200, expect::compact, "{}"},
      {"136", "GET", "/health?plugins", {}, {}, 200, expect::compact, "{}"},
      {"137", "GET", "/health?bundles&plugins", {}, {}, 200, expect::compact, "{}"},
      {"138", "GET", "/health/live", {}, {}, 500, expect::compact, R"({"error":"health check (data.system.health.live) was undefined"})"},
      {"139", "GET", "/health/ready", {}, {}, 500, expect::compact, R"({"error":"health check (data.system.health.ready) was undefined"})"},
      {"140", "GET", "/v1/nosuch", {}, {}, 404, expect::text, "404 page not found\n"},
      {"141", "POST", "/v1/policies/x", "package x", {}, 405, expect::empty, ""},
      {"142", "GET", "/v1/data/admins?pretty=true", {}, {}, 200, expect::text, "{\n  \"result\": [\n    \"bob\"\n  ]\n}\n"},
      {"143", "GET", "/v1/config", {}, {}, 200, expect::custom, "",
       [](const client_reply& r) {
         auto body = json::parse(r.body);
         EXPECT_EQ(body["result"]["default_decision"], "/system/main");
         EXPECT_EQ(body["result"]["default_authorization_decision"], "/system/authz/allow");
         EXPECT_EQ(body["result"]["labels"]["version"], "1.9.0");
         EXPECT_EQ(body["result"]["labels"]["id"].get<std::string>().size(), 36u);
       }},
      {"144", "GET", "/v1/status", {}, {}, 500, expect::error, R"({"code": "internal_error", "message": "status plugin not enabled"})"},
      {"145", "GET", "/v1/data/admins?strict-builtin-errors", {}, {}, 200, expect::compact, R"({"result":["bob"]})"},
      {"150", "PUT", "/v1/policies/x", "package example.authz\ndefault allow := false\nallow if input.user == \"alice\"\n", {}, 200, expect::compact, "{}"},
      {"152", "GET", "/v1/data/missing/deep/x", {}, {}, 200, expect::compact, "{}"},
      {"153", "DELETE", "/v1/data", {}, {}, 405, expect::empty, ""},
      {"154", "PUT", "/v1/data/arr2", "[1,2,3]", {}, 204, expect::empty, ""},
      {"155", "DELETE", "/v1/data/arr2/1", {}, {}, 204, expect::empty, ""},
      {"156", "GET", "/v1/data/arr2", {}, {}, 200, expect::compact, R"({"result":[1,3]})"},
      {"157", "DELETE", "/v1/data/arr2/9", {}, {}, 404, expect::error, R"({"code": "resource_not_found", "message": "storage_not_found_error: /arr2/9: array index out of range"})"},
      {"158", "PUT", "/v1/data/system/foo", "1", {}, 204, expect::empty, ""},
      {"161", "PUT", "/v1/policies/j", "package j\nk := 1", {{"Content-Type", "application/json"}}, 200, expect::compact, "{}"},
      {"162", "PUT", "/v1/policies/j", "package j2\nk := 1", {}, 200, expect::compact, "{}"},
      {"164", "PUT", "/v1/data/enc/a%2Fb", "1", {}, 204, expect::empty, ""},
      {"165", "GET", "/v1/data/enc", {}, {}, 200, expect::compact, R"({"result":{"a/b":1}})"},
      {"166", "PUT", "/v1/data/enc/a%20b", "2", {}, 204, expect::empty, ""},
      {"167", "GET", "/v1/data/enc", {}, {}, 200, expect::compact, R"({"result":{"a b":2,"a/b":1}})"},
      {"168", "PATCH", "/v1/data/enc", R"([{"op":"remove","path":""}])", {}, 204, expect::empty, ""},
      {"169", "GET", "/v1/data/enc", {}, {}, 200, expect::compact, "{}"},
  };
}

TEST_F(standin, ReplaysTheObservedOpaTableInOrder) {
  for (const auto& r : observed_table()) {
    SCOPED_TRACE("row " + r.id + ": " + r.method + " " + r.target);
    auto reply = call(r.method, r.target, r.body, r.headers);
    EXPECT_EQ(reply.status, r.status);
    auto content_type = reply.header("Content-Type");
    switch (r.kind) {
      case expect::empty:
        EXPECT_EQ(reply.body, "");
        EXPECT_FALSE(content_type.has_value());
        break;
      case expect::compact:
        EXPECT_EQ(reply.body, r.text + "\n");
        EXPECT_EQ(content_type.value_or(""), "application/json");
        break;
      case expect::error:
        EXPECT_EQ(reply.body, go_pretty(r.text));
        EXPECT_EQ(content_type.value_or(""), "application/json");
        break;
      case expect::text:
        EXPECT_EQ(reply.body, r.text);
        break;
      case expect::prefix:
        EXPECT_EQ(reply.body.substr(0, r.text.size()), r.text);
        break;
      case expect::custom:
        r.check(reply);
        break;
    }
    if (r.status == 301) {
      auto target = r.target;
      EXPECT_EQ(reply.header("Location").value_or(""), target.substr(0, target.size() - 1));
    }
  }
}

TEST_F(standin, ErrorBodiesArePrettyPrintedWithATrailingNewline) {
  auto r = call("DELETE", "/v1/data/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body,
            "{\n  \"code\": \"resource_not_found\",\n  \"message\": \"storage_not_found_error: "
            "/nope: document does not exist\"\n}\n");
  r = call("PUT", "/v1/data/x", "not json");
  EXPECT_EQ(r.body,
            "{\n  \"code\": \"invalid_parameter\",\n  \"message\": \"invalid character 'o' in "
            "literal null (expecting 'u')\"\n}\n");
  r = call("GET", "/v1/policies/a%22b");
  EXPECT_EQ(r.body,
            "{\n  \"code\": \"resource_not_found\",\n  \"message\": \"storage_not_found_error: "
            "policy id \\\"a\\\\\\\"b\\\"\"\n}\n");
}

TEST_F(standin, GoEscapesHtmlCharactersInStrings) {
  ASSERT_EQ(call("PUT", "/v1/data/h", R"({"t":"<a&b>"})").status, 204);
  EXPECT_EQ(call("GET", "/v1/data/h").body, "{\"result\":{\"t\":\"\\u003ca\\u0026b\\u003e\"}}\n");
}

TEST_F(standin, UncleanPathsRedirectWithoutABody) {
  auto r = call("GET", "/v1/data//a?x=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location").value_or(""), "/v1/data/a?x=1");
  EXPECT_EQ(r.body, "");
}

TEST_F(standin, InvalidPercentEscapeIsABadRequest) {
  auto r = call("GET", "/v1/data/%zz");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "400 Bad Request");
}

TEST_F(standin, PostWithoutInputWarnsAndKeepsTheResult) {
  ASSERT_EQ(call("PUT", "/v1/data/d", R"({"k":1})").status, 204);
  auto r = call("POST", "/v1/data/d");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"result":{"k":1},"warning":{"code":"api_usage_warning","message":"'input' key missing from the request"}})"
            "\n");
  r = call("POST", "/v1/data/d", R"({"input":{"user":"alice"}})");
  EXPECT_EQ(r.body, "{\"result\":{\"k\":1}}\n");
  r = call("POST", "/v1/data/d", "[1]");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["message"],
            "body contains malformed input document: json: cannot unmarshal array into Go value "
            "of type types.DataRequestV1");
}

TEST_F(standin, HealthPathReadsSystemHealthDocument) {
  ASSERT_EQ(call("PUT", "/v1/data/system/health/live", "true").status, 204);
  ASSERT_EQ(call("PUT", "/v1/data/system/health/ready", "1").status, 204);
  EXPECT_EQ(call("GET", "/health/live").status, 200);
  auto r = call("GET", "/health/ready");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body,
            "{\"error\":\"health check (data.system.health.ready) returned unexpected value\"}\n");
}

TEST_F(standin, WritesLogListsEveryWriteInOrder) {
  call("PUT", "/v1/data/w", "1");
  call("PATCH", "/v1/data/w", "[]");
  call("DELETE", "/v1/data/nothere");
  call("GET", "/v1/data/w");
  auto r = call("GET", "/_standin/writes");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(R"([
    {"method":"PUT","path":"/v1/data/w","status":204},
    {"method":"PATCH","path":"/v1/data/w","status":204},
    {"method":"DELETE","path":"/v1/data/nothere","status":404}])"));
}

TEST_F(standin, FailWritesAnswers500AndChangesNothing) {
  ASSERT_EQ(call("POST", "/_standin/fail-writes?count=2").status, 200);
  auto r = call("PUT", "/v1/data/f", "1");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body)["code"], "internal_error");
  EXPECT_EQ(call("PATCH", "/v1/data", R"([{"op":"add","path":"/f","value":1}])").status, 500);
  EXPECT_EQ(call("GET", "/v1/data/f").body, "{}\n");
  EXPECT_EQ(call("PUT", "/v1/data/f", "1").status, 204);
  EXPECT_EQ(call("GET", "/v1/data/f").body, "{\"result\":1}\n");
}

TEST(standin_options, FailWritesFromOptionsCountsDown) {
  opa_emulator emulator({.fail_writes = 1, .discard_data_under = {}});
  http_request put{"PUT", "/v1/data/x", {}, "1"};
  EXPECT_EQ(emulator.handle(put).status, 500);
  EXPECT_EQ(emulator.handle(put).status, 204);
  EXPECT_EQ(emulator.writes().size(), 2u);
}

TEST(standin_options, DiscardDataUnderAnswersWritesThereWithoutStoringThem) {
  opa_emulator emulator({.discard_data_under = "/bench"});
  EXPECT_EQ(emulator.handle({"PUT", "/v1/data/bench/doc", {}, "not even JSON"}).status, 204);
  EXPECT_EQ(emulator.handle({"PATCH", "/v1/data/bench", {}, "[]"}).status, 204);
  EXPECT_EQ(emulator.handle({"GET", "/v1/data/bench/doc", {}, ""}).body, "{}\n");
  // Only at or under the path: a sibling with the same prefix and the marker are stored.
  EXPECT_EQ(emulator.handle({"PUT", "/v1/data/benchmark", {}, "1"}).status, 204);
  EXPECT_EQ(emulator.handle({"GET", "/v1/data/benchmark", {}, ""}).body, "{\"result\":1}\n");
  EXPECT_EQ(emulator.handle({"PUT", "/v1/data/system/pdl_agent", {}, "2"}).status, 204);
  EXPECT_EQ(emulator.handle({"GET", "/v1/data/system/pdl_agent", {}, ""}).body,
            "{\"result\":2}\n");
  EXPECT_EQ(emulator.writes().size(), 4u);
}

TEST_F(standin, KeepAliveServesSeveralRequestsOnOneConnection) {
  loopback_client c(port());
  EXPECT_EQ(c.send("PUT", "/v1/data/k", "1").status, 204);
  EXPECT_EQ(c.send("GET", "/v1/data/k").body, "{\"result\":1}\n");
  EXPECT_EQ(c.send("GET", "/health").status, 200);
}

TEST_F(standin, ExpectContinueGetsAnInterimResponse) {
  loopback_client c(port());
  const std::string body = R"({"big":true})";
  auto interim = c.send_raw("PUT /v1/data/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(interim.status, 100);
  auto final_reply = c.send_raw(body);
  EXPECT_EQ(final_reply.status, 204);
  EXPECT_EQ(c.send("GET", "/v1/data/e").body, "{\"result\":{\"big\":true}}\n");
}

TEST_F(standin, LargePutBodyIsStored) {
  std::string big(16u * 1024 * 1024, 'x');
  auto r = call("PUT", "/v1/data/big", "\"" + big + "\"");
  EXPECT_EQ(r.status, 204);
  auto got = call("GET", "/v1/data/big");
  EXPECT_EQ(got.body.size(), big.size() + std::string("{\"result\":\"\"}\n").size());
}

TEST(standin_limits, BodyOverTheLimitIs413) {
  opa_emulator emulator;
  loopback_server::options opts;
  opts.body_limit = 1024;
  auto server = loopback_server::create(opts, [&](const http_request& r) {
    return emulator.handle(r);
  });
  std::thread t([&] { server->run(); });
  auto r = http_call(server->port(), "PUT", "/v1/data/x", "\"" + std::string(4096, 'y') + "\"");
  EXPECT_EQ(r.status, 413);
  server->stop();
  t.join();
  EXPECT_TRUE(emulator.writes().empty());
}

TEST(standin_limits, ALargerReadBufferReceivesBodiesWhole) {
  opa_emulator emulator;
  loopback_server::options opts;
  opts.read_buffer_bytes = 256 * 1024;
  auto server = loopback_server::create(opts, [&](const http_request& r) {
    return emulator.handle(r);
  });
  std::thread t([&] { server->run(); });
  const std::string big(3u * 1024 * 1024 + 7, 'b');
  EXPECT_EQ(http_call(server->port(), "PUT", "/v1/data/big", "\"" + big + "\"").status, 204);
  auto got = http_call(server->port(), "GET", "/v1/data/big");
  EXPECT_EQ(got.body, "{\"result\":\"" + big + "\"}\n");
  server->stop();
  t.join();
}

TEST(standin_limits, HeaderOverTheLimitIs431) {
  opa_emulator emulator;
  loopback_server::options opts;
  opts.header_limit = 1024;
  auto server = loopback_server::create(opts, [&](const http_request& r) {
    return emulator.handle(r);
  });
  std::thread t([&] { server->run(); });
  auto r = http_call(server->port(), "GET", "/health", std::nullopt,
                     {{"X-Filler", std::string(4096, 'z')}});
  EXPECT_EQ(r.status, 431);
  server->stop();
  t.join();
}

TEST(standin_server, StopBeforeRunReturnsPromptly) {
  auto server = loopback_server::create({}, [](const http_request&) { return http_response{}; });
  EXPECT_NE(server->port(), 0);
  server->stop();
  server->run();  // returns: the stop was queued before
}

TEST(standin_server, ListeningOnABadAddressThrows) {
  EXPECT_THROW(loopback_server::create({.addr = "127.0.0.1:99999"},
                                       [](const http_request&) { return http_response{}; }),
               std::runtime_error);
}

}  // namespace
}  // namespace pdl::fakes
