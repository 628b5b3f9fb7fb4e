// The PolicyBundle JSON against the shapes recorded from OPAL's server
// (../shared/opal-wire-policy.md section 1): field order, compact form, full and delta bundles,
// folders, deleted files; the query parameters; the notify data.
#include "server/policy/bundle.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shared/auth/sha256.hpp"
#include "shared/model/errors.hpp"

namespace pdl::server::policy {
namespace {

const std::string rbac_data = "{\"roles\": {\"alice\": [\"admin\"], \"bob\": [\"viewer\"]}}\n";
const std::string rbac_v1 = "package app.rbac\n\nimport rego.v1\n\ndefault allow := false\n";
const std::string rbac_v2 = "package app.rbac\n\nimport rego.v1\n\ndefault allow := true\n";
const std::string billing = "package app.billing\n\ndefault can_pay := false\n";

policy_file module(std::string path, std::string text) {
  policy_file f;
  f.path = std::move(path);
  f.kind = f.path.size() >= 9 && f.path.substr(f.path.size() - 9) == "data.json"
               ? module_kind::data
               : module_kind::policy;
  f.digest = auth::sha256_hex(text);
  f.text = std::move(text);
  if (f.kind == module_kind::policy) {
    f.package = f.text.substr(8, f.text.find('\n') - 8);
  }
  return f;
}

snapshot snap(std::string hash, std::vector<policy_file> files) {
  snapshot s;
  s.hash = std::move(hash);
  s.files = std::move(files);
  s.dirs = {".", "billing", "docs", "rbac"};
  return s;
}

const std::string h1(40, '1');
const std::string h2(40, '2');
const std::string h3(40, '3');
// As the recorded commits: H1 = all three; H2 = rbac.rego changed, billing deleted; H3 = the
// data module deleted too.
const snapshot s1 = snap(h1, {module("billing/billing.rego", billing),
                              module("rbac/data.json", rbac_data), module("rbac/rbac.rego", rbac_v1)});
const snapshot s2 = snap(h2, {module("rbac/data.json", rbac_data), module("rbac/rbac.rego", rbac_v2)});
const snapshot s3 = snap(h3, {module("rbac/rbac.rego", rbac_v2)});

std::string q(const std::string& s) { return nlohmann::json(s).dump(); }

TEST(policy_bundle, full_bundle_has_opal_field_order_and_compact_form) {
  EXPECT_EQ(full_bundle(s1, {"."}),
            R"({"manifest":["billing/billing.rego","rbac/data.json","rbac/rbac.rego"],"hash":")" +
                h1 + R"(","old_hash":null,"data_modules":[{"path":"rbac","data":)" + q(rbac_data) +
                R"(}],"policy_modules":[{"path":"billing/billing.rego","package_name":"app.billing","rego":)" +
                q(billing) + R"(},{"path":"rbac/rbac.rego","package_name":"app.rbac","rego":)" +
                q(rbac_v1) + R"(}],"deleted_files":null})");
}

TEST(policy_bundle, one_folder_and_an_empty_folder) {
  auto rbac = nlohmann::json::parse(full_bundle(s1, {"rbac"}));
  EXPECT_EQ(rbac["manifest"], nlohmann::json({"rbac/data.json", "rbac/rbac.rego"}));
  EXPECT_EQ(rbac["policy_modules"].size(), 1U);
  EXPECT_EQ(full_bundle(s1, {"docs"}),
            R"({"manifest":[],"hash":")" + h1 +
                R"(","old_hash":null,"data_modules":[],"policy_modules":[],"deleted_files":null})");
  // A folder name that is a prefix of another is not that folder.
  EXPECT_EQ(nlohmann::json::parse(full_bundle(s1, {"rba"}))["manifest"].size(), 0U);
}

TEST(policy_bundle, delta_lists_changed_modules_whole_and_deleted_ones) {
  EXPECT_EQ(delta_bundle(s1.index_only(), s2, {"."}),
            R"({"manifest":["rbac/rbac.rego"],"hash":")" + h2 + R"(","old_hash":")" + h1 +
                R"(","data_modules":[],"policy_modules":[{"path":"rbac/rbac.rego","package_name":"app.rbac","rego":)" +
                q(rbac_v2) +
                R"(}],"deleted_files":{"data_modules":[],"policy_modules":["billing/billing.rego"]}})");
  // Restricted to rbac: the deletion in billing/ is outside, so deleted_files is null.
  auto rbac = nlohmann::json::parse(delta_bundle(s1, s2, {"rbac"}));
  EXPECT_TRUE(rbac["deleted_files"].is_null());
  EXPECT_EQ(rbac["manifest"], nlohmann::json({"rbac/rbac.rego"}));
  // A deleted data module is named by its folder.
  EXPECT_EQ(delta_bundle(s2, s3, {"."}),
            R"({"manifest":[],"hash":")" + h3 + R"(","old_hash":")" + h2 +
                R"(","data_modules":[],"policy_modules":[],"deleted_files":{"data_modules":["rbac"],"policy_modules":[]}})");
}

TEST(policy_bundle, delta_against_itself_is_empty_with_old_hash_equal_to_hash) {
  EXPECT_EQ(delta_bundle(s2, s2, {"."}),
            R"({"manifest":[],"hash":")" + h2 + R"(","old_hash":")" + h2 +
                R"(","data_modules":[],"policy_modules":[],"deleted_files":null})");
}

TEST(policy_bundle, a_data_json_at_the_top_is_the_data_module_dot) {
  const snapshot top = snap(h1, {module("data.json", "{}")});
  EXPECT_EQ(nlohmann::json::parse(full_bundle(top, {"."}))["data_modules"][0]["path"], ".");
}

TEST(policy_bundle, changed_directories_are_every_folder_above_a_changed_module) {
  EXPECT_THAT(changed_directories(s1, s2), ::testing::ElementsAre(".", "billing", "rbac"));
  EXPECT_THAT(changed_directories(s2, s3), ::testing::ElementsAre(".", "rbac"));
  EXPECT_TRUE(changed_directories(s2, s2).empty());
  const snapshot deep = snap(h1, {module("a/b/c/x.rego", "package x\n")});
  EXPECT_THAT(changed_directories(empty_snapshot(), deep),
              ::testing::ElementsAre(".", "a", "a/b", "a/b/c"));
}

TEST(policy_bundle, the_notify_data_is_written_as_opal_writes_frames) {
  EXPECT_EQ(policy_update_message(h1, h2, {".", "billing", "rbac"}),
            R"({"old_policy_hash": ")" + h1 + R"(", "new_policy_hash": ")" + h2 +
                R"(", "changed_directories": [".", "billing", "rbac"]})");
}

TEST(policy_bundle_query, paths_and_base_hash) {
  auto a = parse_bundle_query("");
  EXPECT_THAT(a.paths, ::testing::ElementsAre("."));
  EXPECT_FALSE(a.base_hash);
  auto b = parse_bundle_query("path=rbac&path=%2Fbilling%2F&base_hash=" + std::string(40, 'A') +
                              "&other=1");
  EXPECT_THAT(b.paths, ::testing::ElementsAre("billing", "rbac"));
  EXPECT_EQ(b.base_hash, std::string(40, 'a'));
  EXPECT_THAT(parse_bundle_query("path=rbac&path=.").paths, ::testing::ElementsAre("."));
  EXPECT_THAT(parse_bundle_query("path=./rbac/x").paths, ::testing::ElementsAre("rbac/x"));
  EXPECT_FALSE(parse_bundle_query("base_hash=").base_hash);
}

std::string refusal(const std::string& query) {
  try {
    (void)parse_bundle_query(query);
  } catch (const model::invalid_input& e) {
    return e.what();
  }
  return "";
}

TEST(policy_bundle_query, refuses_escapes_and_malformed_hashes_naming_the_parameter) {
  EXPECT_THAT(refusal("path=../etc"), ::testing::StartsWith("path: '../etc' is not a folder"));
  EXPECT_THAT(refusal("path=a//b"), ::testing::StartsWith("path: "));
  EXPECT_THAT(refusal("path=a/%2E%2E/b"), ::testing::StartsWith("path: "));
  EXPECT_EQ(refusal("base_hash=notahash"),
            "base_hash: expected the 40 hexadecimal digits of a bundle's hash");
  EXPECT_EQ(refusal("base_hash=" + std::string(39, 'a') + "g"),
            "base_hash: expected the 40 hexadecimal digits of a bundle's hash");
  std::string many;
  for (int i = 0; i < 101; ++i) {
    many += "path=p" + std::to_string(i) + "&";
  }
  EXPECT_EQ(refusal(many), "path: more than 100 paths");
}

TEST(policy_bundle, missing_path_names_what_is_neither_folder_nor_module) {
  EXPECT_EQ(missing_path(s1, {".", "rbac", "docs", "rbac/rbac.rego"}), std::nullopt);
  EXPECT_EQ(missing_path(s1, {"rbac", "nonexistent"}), "nonexistent");
}

}  // namespace
}  // namespace pdl::server::policy
