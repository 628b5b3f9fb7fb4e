#include "server/server_auth.hpp"

#include <gtest/gtest.h>

#include "server/update_intake.hpp"
#include "shared/config/config_error.hpp"
#include "tests/unit/server/test_server.hpp"

namespace pdl::server {
namespace {

using perms = std::optional<std::vector<std::string>>;

TEST(topic_permissions, equal_or_below_a_permitted_topic) {
  perms p = std::vector<std::string>{"billing", "users/eu"};
  EXPECT_EQ(first_forbidden_topic({"billing", "billing/eu", "users/eu/fr"}, p), std::nullopt);
  EXPECT_EQ(first_forbidden_topic({"billing", "billingx"}, p), "billingx");
  EXPECT_EQ(first_forbidden_topic({"users"}, p), "users");
  EXPECT_EQ(first_forbidden_topic({"anything"}, std::nullopt), std::nullopt);
  EXPECT_EQ(first_forbidden_topic({"a"}, std::vector<std::string>{}), "a");
}

TEST(bearer_token, scheme_is_case_insensitive) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer  abc "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer "), std::nullopt);
  EXPECT_EQ(bearer_token("abc"), std::nullopt);
}

TEST(server_auth, master_token_rules) {
  auto keys = testing::make_pem_pair();
  auto cfg = testing::test_config(keys);
  auto a = server_auth::create(cfg);
  EXPECT_FALSE(a->check_master("Bearer " + testing::master_token).has_value());
  auto wrong = a->check_master("Bearer nope");
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->status, 401);
  cfg.master_token = secret();
  auto none = server_auth::create(cfg)->check_master("Bearer x");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 503);
  EXPECT_EQ(none->message, "token issuing is disabled: no master token configured");
}

TEST(server_auth, key_configurations) {
  auto keys = testing::make_pem_pair();
  auto other = testing::make_pem_pair();
  auto cfg = testing::test_config(keys);
  cfg.public_key = other.public_pem;  // does not match
  EXPECT_THROW(server_auth::create(cfg), config::config_error);
  cfg.private_key = secret();  // public only
  EXPECT_THROW(server_auth::check_keys(cfg), config::config_error);
  cfg.public_key.clear();  // private only: public derived
  cfg.private_key = secret(keys.private_pem);
  auto a = server_auth::create(cfg);
  EXPECT_FALSE(a->ephemeral_keys());
  cfg.private_key = secret();  // none: ephemeral
  auto e = server_auth::create(cfg);
  EXPECT_TRUE(e->ephemeral_keys());
  EXPECT_EQ(e->jwks()["keys"].size(), 1u);
}

TEST(server_auth, disabled_auth_passes_every_check) {
  auto keys = testing::make_pem_pair();
  auto cfg = testing::test_config(keys);
  cfg.auth_enabled = false;
  auto a = server_auth::create(cfg);
  auto r = a->check_bearer("");
  ASSERT_TRUE(std::holds_alternative<caller>(r));
  EXPECT_TRUE(std::get<caller>(r).may_publish());
}

TEST(validation_error_body, splits_the_path_into_loc) {
  auto body = nlohmann::json::parse(
      validation_error_body(model::invalid_input("entries[2].topics[0]", "must not be empty")));
  EXPECT_EQ(body["detail"][0]["loc"], nlohmann::json::parse(R"(["body","entries",2,"topics",0])"));
  EXPECT_EQ(body["detail"][0]["msg"], "must not be empty");
  EXPECT_EQ(body["error"], "entries[2].topics[0]: must not be empty");
}

}  // namespace
}  // namespace pdl::server
