// Reading a policy directory: which files, ConfigMap layouts, limits, and the errors that name
// the file.
#include "server/policy/policy_files.hpp"

#include <unistd.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::server::policy {
namespace {

using agent::test::temp_dir;
namespace fs = std::filesystem;

void write(const temp_dir& d, const std::string& rel, const std::string& text) {
  fs::create_directories(fs::path(d.file(rel)).parent_path());
  d.write(rel, text);
}

snapshot read(const temp_dir& d, scan_limits limits = {}) {
  return read_snapshot(d.path(), list_directory(d.path(), limits), limits);
}

std::vector<std::string> paths(const snapshot& s) {
  std::vector<std::string> out;
  for (const auto& f : s.files) {
    out.push_back(f.path);
  }
  return out;
}

TEST(rego_package, is_the_first_statement_after_comments_and_blank_lines) {
  EXPECT_EQ(rego_package("package app.rbac\n\nimport rego.v1\n"), "app.rbac");
  EXPECT_EQ(rego_package("# METADATA\n# title: x\n\n  package   a.b_c  # trailing\r\nx := 1"),
            "a.b_c");
  EXPECT_EQ(rego_package("package a[\"b-c\"].d\n"), "a[\"b-c\"].d");
  EXPECT_EQ(rego_package("import rego.v1\npackage late\n"), std::nullopt);
  EXPECT_EQ(rego_package("packages x\n"), std::nullopt);
  EXPECT_EQ(rego_package("package\n"), std::nullopt);
  EXPECT_EQ(rego_package("package a b\n"), std::nullopt);
  EXPECT_EQ(rego_package("package a\rb\n"), std::nullopt);  // control characters (the fuzzer)
  EXPECT_EQ(rego_package(std::string("package a\0b\n", 12)), std::nullopt);
  EXPECT_EQ(rego_package(""), std::nullopt);
}

TEST(policy_files, reads_rego_and_data_json_only_sorted_with_every_folder) {
  temp_dir d;
  write(d, "rbac/rbac.rego", "package app.rbac\n");
  write(d, "rbac/data.json", "{\"roles\": {}}\n");
  write(d, "billing/billing.rego", "package app.billing\n");
  write(d, "docs/README.md", "hello\n");
  write(d, "rbac/other.json", "{}");
  write(d, ".git/x.rego", "package hidden\n");
  write(d, "rbac/.hidden.rego", "package hidden\n");
  const snapshot s = read(d);
  EXPECT_THAT(paths(s), ::testing::ElementsAre("billing/billing.rego", "rbac/data.json",
                                               "rbac/rbac.rego"));
  EXPECT_THAT(s.dirs, ::testing::ElementsAre(".", "billing", "docs", "rbac"));
  EXPECT_EQ(s.find("rbac/rbac.rego")->package, "app.rbac");
  EXPECT_EQ(s.find("rbac/data.json")->kind, module_kind::data);
  EXPECT_EQ(s.find("rbac/data.json")->text, "{\"roles\": {}}\n");
  EXPECT_EQ(s.hash.size(), 40U);
}

TEST(policy_files, the_hash_follows_the_contents_only) {
  temp_dir a;
  temp_dir b;
  write(a, "p/x.rego", "package x\n");
  write(b, "p/x.rego", "package x\n");
  write(b, "notes.txt", "not a module");
  EXPECT_EQ(read(a).hash, read(b).hash);
  write(b, "p/x.rego", "package x\ny := 1\n");
  EXPECT_NE(read(a).hash, read(b).hash);
  EXPECT_NE(read(a).hash, empty_snapshot().hash);
  temp_dir empty;
  EXPECT_EQ(read(empty).hash, empty_snapshot().hash);
}

TEST(policy_files, a_configmap_volume_is_read_through_its_symbolic_links) {
  // What the kubelet makes: ..<timestamp>/ holds the files, ..data -> it, and each key is a
  // symbolic link through ..data.
  temp_dir d;
  write(d, "..2026_12_07_10_00_00.1/authz.rego", "package authz\n");
  write(d, "..2026_12_07_10_00_00.1/data.json", "[1]");
  fs::create_directory_symlink("..2026_12_07_10_00_00.1", d.file("..data"));
  fs::create_symlink("..data/authz.rego", d.file("authz.rego"));
  fs::create_symlink("..data/data.json", d.file("data.json"));
  const snapshot s = read(d);
  EXPECT_THAT(paths(s), ::testing::ElementsAre("authz.rego", "data.json"));
  EXPECT_THAT(s.dirs, ::testing::ElementsAre("."));
}

TEST(policy_files, a_symbolic_link_loop_and_dangling_links) {
  temp_dir d;
  write(d, "a/x.rego", "package x\n");
  fs::create_directory_symlink("..", d.file("a/up"));
  EXPECT_THROW(read(d), scan_error);
  fs::remove(d.file("a/up"));
  fs::create_symlink("nowhere.rego", d.file("a/gone.rego"));
  EXPECT_THAT(paths(read(d)), ::testing::ElementsAre("a/x.rego"));
}

std::string error_of(const temp_dir& d, scan_limits limits = {}) {
  try {
    (void)read(d, limits);
  } catch (const scan_error& e) {
    return e.what();
  }
  return "";
}

TEST(policy_files, every_refusal_names_the_file_and_the_rule) {
  {
    temp_dir d;
    write(d, "p/bad.rego", "allow := true\n");
    EXPECT_EQ(error_of(d), "p/bad.rego: no package declaration");
  }
  {
    temp_dir d;
    write(d, "p/data.json", "{\"a\": ");
    EXPECT_THAT(error_of(d), ::testing::StartsWith("p/data.json: not JSON: "));
  }
  {
    temp_dir d;
    write(d, "p/x.rego", "package x\n# \xff\n");
    EXPECT_EQ(error_of(d), "p/x.rego: not valid UTF-8");
  }
  {
    temp_dir d;
    write(d, "big.rego", "package big\n" + std::string(100, '#'));
    EXPECT_EQ(error_of(d, {.max_file_bytes = 50}),
              "big.rego: larger than 50 bytes (policy.max_file_bytes)");
  }
  {
    temp_dir d;
    write(d, "a.rego", "package a\n");
    write(d, "b.rego", "package b\n");
    EXPECT_EQ(error_of(d, {.max_total_bytes = 15}),
              "b.rego: the files together pass 15 bytes (policy.max_total_bytes)");
    EXPECT_EQ(error_of(d, {.max_files = 1}),
              "more than 1 policy and data files (policy.max_files)");
  }
  if (::geteuid() != 0) {  // root reads anything
    temp_dir d;
    write(d, "secret.rego", "package s\n");
    fs::permissions(d.file("secret.rego"), fs::perms::none);
    EXPECT_THAT(error_of(d), ::testing::StartsWith("secret.rego: cannot be opened"));
  }
}

TEST(policy_files, index_only_keeps_digests_and_drops_texts) {
  temp_dir d;
  write(d, "x.rego", "package x\n");
  const snapshot s = read(d);
  const snapshot i = s.index_only();
  EXPECT_EQ(i.hash, s.hash);
  EXPECT_EQ(i.files.at(0).digest, s.files.at(0).digest);
  EXPECT_TRUE(i.files.at(0).text.empty());
}

}  // namespace
}  // namespace pdl::server::policy
