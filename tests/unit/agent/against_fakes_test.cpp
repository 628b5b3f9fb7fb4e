#include "agent/opa_store.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "agent/http_fetcher.hpp"
#include "shared/http/client.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/agent/fakes.hpp"

// The agent's clients against the project's own fakes (real programs): opa-standin answers like
// OPA 1.9, fake-data-source like a JSON source. Skipped when those binaries are not built.
namespace pdl::agent {
namespace {

using namespace std::chrono_literals;

struct running_fake {
  pdl::test::temp_dir dir;
  std::unique_ptr<pdl::test::process> proc;
  int port = 0;
};

std::unique_ptr<running_fake> start_fake(const std::string& name, std::vector<std::string> args) {
  std::string binary;
  try {
    binary = pdl::test::binary_path(name);
  } catch (const std::exception&) {
    return nullptr;
  }
  auto f = std::make_unique<running_fake>();
  const auto port_file = f->dir.file("port");
  args.insert(args.end(), {"--addr", "127.0.0.1:0", "--port-file", port_file});
  f->proc = std::make_unique<pdl::test::process>(binary, args, std::map<std::string, std::string>{},
                                                 f->dir.file("log"));
  f->port = pdl::test::wait_for_port_file(port_file, 15000ms, f->proc.get());
  return f;
}

std::string base(const running_fake& f) { return "http://127.0.0.1:" + std::to_string(f.port); }

TEST(opa_store_vs_standin, writes_and_refusals_as_opa_answers_them) {
  auto opa = start_fake("opa-standin", {});
  if (!opa) {
    GTEST_SKIP() << "opa-standin not built";
  }
  opa_store_options o;
  o.url = base(*opa);
  opa_store store(o);
  EXPECT_TRUE(store.health());
  store.put("/a/b", store_body::from_text(R"({"x":1,"n":null})"));
  store.patch("/a", store_body::from_text(R"([{"op":"add","path":"/c","value":2}])"));
  http_client::request get;
  get.url = base(*opa) + "/v1/data/a";
  auto r = std::get<http_client::response>(http_client::perform(get));
  EXPECT_EQ(r.body, "{\"result\":{\"b\":{\"n\":null,\"x\":1},\"c\":2}}\n");

  try {
    store.put("", store_body::from_text("[1]"));
    FAIL() << "root array accepted";
  } catch (const store_error& e) {
    EXPECT_EQ(e.http_status(), 400);
    EXPECT_NE(std::string(e.what()).find("root must be object"), std::string::npos) << e.what();
  }
  try {
    store.patch("/nosuch", store_body::from_text(R"([{"op":"add","path":"/x","value":1}])"));
    FAIL() << "patch of a missing document accepted";
  } catch (const store_error& e) {
    EXPECT_EQ(e.http_status(), 404);
    EXPECT_NE(std::string(e.what()).find("resource_not_found"), std::string::npos) << e.what();
  }
}

TEST(http_fetcher_vs_fake_source, header_required_and_errors) {
  auto src = start_fake("fake-data-source",
                        {"--require-header", "Authorization: Bearer src-secret", "--route",
                         R"(/users={"alice":{"admin":true}})", "--status", "/broken=500"});
  if (!src) {
    GTEST_SKIP() << "fake-data-source not built";
  }
  http_fetcher_options fo;
  fo.connect_timeout = 2000ms;
  http_fetcher fetcher(fo);
  model::data_source_entry e;
  e.url = base(*src) + "/users";
  e.config_json = R"({"headers":{"Authorization":"Bearer src-secret"}})";
  auto body = test::fetch_sync(fetcher, e);
  EXPECT_EQ(test::read_all(body.file.path()), R"({"alice":{"admin":true}})");
  EXPECT_EQ(body.root, model::json_type::object);

  e.config_json = std::nullopt;
  try {
    test::fetch_sync(fetcher, e);
    FAIL() << "no error without the header";
  } catch (const fetch_error& err) {
    EXPECT_TRUE(err.permanent());
    EXPECT_EQ(err.http_status(), 401);
  }
  e.url = base(*src) + "/broken";
  e.config_json = R"({"headers":{"Authorization":"Bearer src-secret"}})";
  try {
    test::fetch_sync(fetcher, e);
    FAIL() << "no error for 500";
  } catch (const fetch_error& err) {
    EXPECT_FALSE(err.permanent());
    EXPECT_EQ(std::string(err.what()).find("src-secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace pdl::agent
