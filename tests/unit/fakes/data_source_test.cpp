#include "tests/fakes/data_source/fake_data_source.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/log/log.hpp"
#include "tests/fakes/data_source/source_options.hpp"
#include "tests/fakes/opa_standin/loopback_client.hpp"
#include "tests/fakes/opa_standin/loopback_server.hpp"

namespace pdl::fakes {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A fake data source built from command-line flags, on an ephemeral port and its own thread.
class running_source {
 public:
  explicit running_source(const std::vector<std::string>& args)
      : source_(parse_source_args(args)) {
    pdl::log::init("warn");
    loopback_server::options opts;
    opts.logger = "test.source";
    server_ = loopback_server::create(opts, [this](const http_request& r) {
      return source_.handle(r);
    });
    thread_ = std::thread([this] { server_->run(); });
  }
  ~running_source() {
    server_->stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }
  client_reply get(const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return http_call(port(), "GET", target, std::nullopt, headers);
  }

 private:
  fake_data_source source_;
  std::unique_ptr<loopback_server> server_;
  std::thread thread_;
};

const std::string users = R"({"alice":{"roles":["admin"]},"bob":{"roles":[]}})";

TEST(data_source, ServesInlineRouteAsJson) {
  running_source s({"--route", "/users=" + users});
  auto r = s.get("/users");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(json::parse(r.body), json::parse(users));
  EXPECT_EQ(http_call(s.port(), "POST", "/users", "{}").status, 200);
  EXPECT_EQ(http_call(s.port(), "PUT", "/users", "{}").status, 405);
  EXPECT_EQ(s.get("/nothing").status, 404);
}

TEST(data_source, ServesRouteFromFile) {
  std::string path = ::testing::TempDir() + "/fake_source_route.json";
  {
    std::ofstream out(path);
    out << R"({"from":"file","n":[1,2,3]})";
  }
  running_source s({"--route", "/doc=@" + path});
  auto r = s.get("/doc?ignored=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["from"], "file");
  std::remove(path.c_str());
}

TEST(data_source, RequiredHeaderGuardsEveryRouteAndIsNeverEchoed) {
  running_source s({"--require-header", "Authorization: Bearer secret-token", "--route",
                    "/users=" + users});
  auto missing = s.get("/users");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.body, "{\"error\":\"unauthorized\"}\n");
  auto wrong = s.get("/users", {{"Authorization", "Bearer secret-tokem"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body.find("secret"), std::string::npos);
  EXPECT_EQ(wrong.body.find("tokem"), std::string::npos);
  // Name and value compare case-insensitively.
  auto ok = s.get("/users", {{"authorization", "bearer SECRET-TOKEN"}});
  EXPECT_EQ(ok.status, 200);
  auto counts = json::parse(s.get("/_source/requests").body);
  EXPECT_EQ(counts["paths"]["/users"]["requests"], 3);
  EXPECT_EQ(counts["paths"]["/users"]["authorized"], 1);
  EXPECT_EQ(counts["requests"], 3);
  EXPECT_EQ(counts["authorized"], 1);
}

TEST(data_source, ForcedStatusWins) {
  running_source s({"--route", "/users=" + users, "--status", "/users=503"});
  auto r = s.get("/users");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"], "forced status 503");
}

TEST(data_source, HungPathNeverAnswers) {
  running_source s({"--hang", "/slow", "--route", "/users=" + users});
  loopback_client c(s.port(), 300ms);
  EXPECT_THROW(c.send("GET", "/slow"), std::runtime_error);
  // The server still serves others, and counted the hung request.
  EXPECT_EQ(s.get("/users").status, 200);
  EXPECT_EQ(json::parse(s.get("/_source/requests").body)["paths"]["/slow"]["requests"], 1);
}

TEST(data_source, ThrottledResponseArrivesWhole) {
  running_source s({"--route", "/users=" + users, "--slow-bytes-per-sec", "2000"});
  auto r = s.get("/users");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(users));
}

// The fault-suite extras, called directly: no socket needed to check what handle() decides.
http_request make_request(std::string method, std::string target) {
  http_request r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

TEST(data_source_faults, EchoServesTheDecodedJson) {
  fake_data_source s(parse_source_args({}));
  auto r = s.handle(make_request("GET", "/echo?x=1&json=%7B%22v%22%3A+7%2C%22a%22%3A%5B1%5D%7D"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"v": 7,"a":[1]})"));
}

TEST(data_source_faults, RedirectAnswersLocationWithTheAskedStatus) {
  fake_data_source s(parse_source_args({}));
  auto r = s.handle(make_request("GET", "/redirect?to=http%3A%2F%2F127.0.0.1%3A8181%2Fv1%2Fdata"));
  EXPECT_EQ(r.status, 302);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Location",
                                                                "http://127.0.0.1:8181/v1/data"}));
  EXPECT_EQ(s.handle(make_request("GET", "/redirect?status=307&to=https%3A%2F%2Fa%2F")).status,
            307);
  EXPECT_EQ(s.handle(make_request("GET", "/redirect")).status, 400);
  EXPECT_EQ(s.handle(make_request("GET", "/redirect?to=file%3A%2F%2F%2Fetc")).status, 400);
  EXPECT_EQ(s.handle(make_request("GET", "/redirect?to=http%3A%2F%2Fa%2F&status=304")).status,
            400);
  EXPECT_EQ(s.request_counts()["paths"]["/redirect"]["requests"], 5);
}

TEST(data_source_faults, EchoRefusesMissingBadOrInvalidJsonPrecisely) {
  fake_data_source s(parse_source_args({}));
  auto missing = s.handle(make_request("GET", "/echo?other=1"));
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(json::parse(missing.body)["error"], "json: missing query parameter");
  auto bad_escape = s.handle(make_request("GET", "/echo?json=%7"));
  EXPECT_EQ(bad_escape.status, 400);
  EXPECT_EQ(json::parse(bad_escape.body)["error"], "json: bad percent-encoding");
  auto invalid = s.handle(make_request("GET", "/echo?json=%7B"));
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(json::parse(invalid.body)["error"], "json: not valid JSON");
  std::string big = "/echo?json=%22" + std::string(fake_data_source::max_echo_bytes, 'a') + "%22";
  auto too_big = s.handle(make_request("GET", big));
  EXPECT_EQ(too_big.status, 400);
  EXPECT_NE(json::parse(too_big.body)["error"].get<std::string>().find("larger than"),
            std::string::npos);
}

TEST(data_source_faults, FailInjectsStatusForTheNextNDataRequestsOnly) {
  fake_data_source s(parse_source_args({"--route", "/users=" + users}));
  auto set = s.handle(make_request("POST", "/_source/fail?count=2&status=503"));
  ASSERT_EQ(set.status, 200);
  EXPECT_EQ(json::parse(set.body), json::parse(R"({"fail":2,"hang":0})"));
  // Control routes are neither faulted nor counted.
  EXPECT_EQ(s.handle(make_request("GET", "/_source/requests")).status, 200);
  EXPECT_EQ(s.handle(make_request("GET", "/users")).status, 503);
  auto second = s.handle(make_request("GET", "/echo?json=1"));
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(json::parse(second.body)["error"], "injected status 503");
  EXPECT_EQ(s.handle(make_request("GET", "/users")).status, 200);
  EXPECT_EQ(s.request_counts()["requests"], 3);
  // Default status 500; count=0 clears.
  s.handle(make_request("POST", "/_source/fail?count=5"));
  EXPECT_EQ(s.handle(make_request("GET", "/users")).status, 500);
  s.handle(make_request("POST", "/_source/fail?count=0"));
  EXPECT_EQ(s.handle(make_request("GET", "/users")).status, 200);
}

TEST(data_source_faults, HangLeavesTheNextNDataRequestsUnanswered) {
  fake_data_source s(parse_source_args({"--route", "/users=" + users}));
  ASSERT_EQ(s.handle(make_request("POST", "/_source/hang?count=1")).status, 200);
  s.handle(make_request("POST", "/_source/fail?count=1"));
  EXPECT_TRUE(s.handle(make_request("GET", "/users")).hang);  // hangs go first
  auto next = s.handle(make_request("GET", "/users"));
  EXPECT_FALSE(next.hang);
  EXPECT_EQ(next.status, 500);
  EXPECT_EQ(s.handle(make_request("GET", "/users")).status, 200);
}

TEST(data_source_faults, HungRequestReallyGetsNoAnswerOverHttp) {
  running_source s({"--route", "/users=" + users});
  ASSERT_EQ(http_call(s.port(), "POST", "/_source/hang?count=1").status, 200);
  loopback_client c(s.port(), 300ms);
  EXPECT_THROW(c.send("GET", "/users"), std::runtime_error);
  EXPECT_EQ(s.get("/users").status, 200);
}

TEST(data_source_faults, FaultControlRefusesBadQueries) {
  fake_data_source s(parse_source_args({}));
  EXPECT_EQ(s.handle(make_request("POST", "/_source/fail")).status, 400);
  EXPECT_EQ(s.handle(make_request("POST", "/_source/fail?count=-1")).status, 400);
  EXPECT_EQ(s.handle(make_request("POST", "/_source/fail?count=x")).status, 400);
  EXPECT_EQ(s.handle(make_request("POST", "/_source/hang?count=2000000")).status, 400);
  auto bad_status = s.handle(make_request("POST", "/_source/fail?count=1&status=200"));
  EXPECT_EQ(bad_status.status, 400);
  EXPECT_EQ(json::parse(bad_status.body)["error"], "status: expected an integer 400..599");
  EXPECT_EQ(s.handle(make_request("GET", "/_source/fail?count=1")).status, 405);
  // Nothing was armed by the refused requests.
  EXPECT_EQ(s.handle(make_request("GET", "/echo?json=2")).status, 200);
}

TEST(data_source_args, RejectsBadFlagsPrecisely) {
  try {
    parse_source_args({"--require-header", "no-colon-secret-value"});
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("secret-value"), std::string::npos);
  }
  EXPECT_THROW(parse_source_args({"--route", "/x={not json"}), std::invalid_argument);
  EXPECT_THROW(parse_source_args({"--route", "x=1"}), std::invalid_argument);
  EXPECT_THROW(parse_source_args({"--route", "/x=@/nonexistent/file.json"}), std::invalid_argument);
  EXPECT_THROW(parse_source_args({"--status", "/x=abc"}), std::invalid_argument);
  EXPECT_THROW(parse_source_args({"--status", "/x=42"}), std::invalid_argument);
  EXPECT_THROW(parse_source_args({"--hang"}), std::invalid_argument);
  EXPECT_THROW(parse_source_args({"--frobnicate"}), std::invalid_argument);
  auto o = parse_source_args({"--addr", "127.0.0.1:0", "--status", "/a=b=500"});
  EXPECT_EQ(o.statuses.at("/a=b"), 500);
}

TEST(port_file, WrittenAtomicallyWithNewline) {
  std::string path = ::testing::TempDir() + "/fake_port_file";
  write_port_file(path, 43210);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "43210\n");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace pdl::fakes
