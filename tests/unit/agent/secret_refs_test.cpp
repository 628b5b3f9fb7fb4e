// ${secret:NAME} in src-config headers: looked up in the agent's own files and environment, never
// another file or variable, and every failure names the header and the secret, never a value.
#include "agent/secret_refs.hpp"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/http_fetcher.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/mini_http_server.hpp"
#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::agent {
namespace {

using test::temp_dir;

secret_refs::env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::string error_of(const secret_refs& refs, const std::string& value) {
  try {
    (void)refs.resolve("Authorization", secret(value));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(secret_refs, files_first_then_the_environment_inside_any_text) {
  temp_dir d;
  d.write("billing-token", "tok-from-file\n");
  d.write("crlf", "v\r\n");
  const secret_refs refs(d.path(), env_of({{"OPAL_SECRET_TENANT_ID", "t-42"},
                                           {"OPAL_SECRET_BILLING_TOKEN", "not-this-one"}}));
  EXPECT_EQ(refs.resolve("Authorization", secret("Bearer ${secret:billing-token}")).reveal(),
            "Bearer tok-from-file");
  EXPECT_EQ(refs.resolve("X", secret("${secret:tenant.id}/${secret:crlf}")).reveal(), "t-42/v");
  EXPECT_EQ(refs.resolve("X", secret("no reference")).reveal(), "no reference");
  EXPECT_EQ(secret_refs::variable_of("billing-token.v2"), "OPAL_SECRET_BILLING_TOKEN_V2");
}

TEST(secret_refs, a_publisher_names_a_secret_but_never_another_file_or_variable) {
  temp_dir d;
  d.write("ok", "x");
  const secret_refs refs(d.path() + "/", env_of({{"OPAL_CLIENT_TOKEN", "agent-jwt"}}));
  EXPECT_THAT(error_of(refs, "${secret:../etc/passwd}"),
              ::testing::HasSubstr("'../etc/passwd' is not a secret name"));
  EXPECT_THAT(error_of(refs, "${secret:..}"), ::testing::HasSubstr("is not a secret name"));
  EXPECT_THAT(error_of(refs, "${secret:}"), ::testing::HasSubstr("is not a secret name"));
  // Only OPAL_SECRET_* variables: the agent's own token is out of reach.
  EXPECT_THAT(error_of(refs, "${secret:CLIENT_TOKEN}"),
              ::testing::HasSubstr("no variable OPAL_SECRET_CLIENT_TOKEN"));
}

TEST(secret_refs, every_failure_names_header_and_secret_and_no_value) {
  temp_dir d;
  d.write("two-lines", "line1\nline2");
  d.write("big", std::string(70 * 1024, 'x'));
  const secret_refs refs(d.path(), env_of({}));
  EXPECT_EQ(error_of(refs, "Bearer ${secret:missing}"),
            "header 'Authorization': secret 'missing' not found (no file missing in "
            "fetch.secrets_dir " + d.path() + ", no variable OPAL_SECRET_MISSING)");
  EXPECT_EQ(error_of(refs, "Bearer ${secret:open"),
            "header 'Authorization': a ${secret:...} reference is not closed");
  EXPECT_EQ(error_of(refs, "${secret:two-lines}"),
            "header 'Authorization': secret 'two-lines' holds a line break or a NUL byte");
  EXPECT_EQ(error_of(refs, "${secret:big}"),
            "header 'Authorization': secret 'big' is larger than 65536 bytes");
  const secret_refs no_dir("", env_of({}));
  EXPECT_EQ(error_of(no_dir, "${secret:x}"),
            "header 'Authorization': secret 'x' not found (fetch.secrets_dir not set, no "
            "variable OPAL_SECRET_X)");
}

TEST(secret_refs, the_fetcher_sends_the_value_and_fails_a_missing_one_as_secret_error) {
  temp_dir d;
  d.write("billing-token", "s3cr3t");
  test::mini_http_server server([](const test::seen_request&) {
    return test::mini_http_server::reply(http::status::ok, "[1]");
  });
  http_fetcher_options o;
  o.secrets = std::make_shared<const secret_refs>(d.path(), env_of({}));
  std::size_t offloaded = 0;
  o.blocking = [&offloaded](std::function<void()> work) {
    ++offloaded;
    work();
  };
  http_fetcher f(o);
  model::data_source_entry e;
  e.url = server.url("/billing");
  e.config_json = R"({"headers":{"Authorization":"Bearer ${secret:billing-token}"}})";
  (void)test::fetch_sync(f, e);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].header("authorization"), "Bearer s3cr3t");
  EXPECT_EQ(offloaded, 1u) << "secrets are read on the pool, not the caller's strand";
  model::data_source_entry plain = e;
  plain.config_json = R"({"headers":{"Authorization":"Bearer s3cr3t"}})";
  (void)test::fetch_sync(f, plain);
  EXPECT_EQ(offloaded, 1u) << "an entry without secrets starts at once";

  e.config_json = R"({"headers":{"Authorization":"Bearer ${secret:nope}"}})";
  try {
    (void)test::fetch_sync(f, e);
    ADD_FAILURE() << "a missing secret must fail the fetch";
  } catch (const secret_error& err) {
    EXPECT_TRUE(err.permanent());
    EXPECT_THAT(err.what(), ::testing::HasSubstr("secret 'nope' not found"));
  }
  EXPECT_EQ(server.requests().size(), 2u) << "nothing is sent for a missing secret";

  http_fetcher without(http_fetcher_options{});
  EXPECT_THROW((void)test::fetch_sync(without, e), secret_error);
}

}  // namespace
}  // namespace pdl::agent
