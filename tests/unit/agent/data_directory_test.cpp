#include "agent/data_directory.hpp"

#include <gtest/gtest.h>

#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::agent {
namespace {

using test::temp_dir;

TEST(data_directory, keeps_a_stable_agent_id_and_the_saved_state) {
  temp_dir dir;
  std::string id;
  {
    auto d = data_directory::open(dir.file("state"));
    id = d->agent_id();
    EXPECT_FALSE(id.empty());
    EXPECT_FALSE(d->loaded().last_applied_seq.has_value());
    EXPECT_FALSE(d->loaded().base_loaded);
    EXPECT_EQ(d->loaded().server_log_id, "");
    d->save({42, true, "0b5e1a2c-7d7e-4a0e-9f55-6f1c2b3d4e5f"});
  }
  auto d = data_directory::open(dir.file("state"));
  EXPECT_EQ(d->agent_id(), id);
  EXPECT_EQ(d->loaded().last_applied_seq, std::optional<std::uint64_t>(42));
  EXPECT_TRUE(d->loaded().base_loaded);
  EXPECT_EQ(d->loaded().server_log_id, "0b5e1a2c-7d7e-4a0e-9f55-6f1c2b3d4e5f");
}

TEST(data_directory, a_crash_while_saving_keeps_the_previous_state) {
  temp_dir dir;
  data_directory::open(dir.path())->save({7, true, {}});
  // The crash happened after writing the temp file, before the rename.
  dir.write("state.json.tmp", R"({"last_applied_seq":9,"base_lo)");
  auto d = data_directory::open(dir.path());
  EXPECT_EQ(d->loaded().last_applied_seq, std::optional<std::uint64_t>(7));
  d->save({8, true, {}});  // the stale temp file is simply replaced
  EXPECT_EQ(data_directory::open(dir.path())->loaded().last_applied_seq,
            std::optional<std::uint64_t>(8));
}

TEST(data_directory, refuses_a_damaged_state_or_id_with_the_file_name) {
  temp_dir dir;
  dir.write("state.json", "not json");
  try {
    data_directory::open(dir.path());
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("state.json"), std::string::npos);
  }
  temp_dir other;
  other.write("agent_id", "bad id with spaces\n");
  EXPECT_THROW(data_directory::open(other.path()), std::runtime_error);
}

TEST(data_directory, generated_ids_are_safe_header_values) {
  const auto id = generate_agent_id();
  EXPECT_LE(id.size(), 64u);
  EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"),
            std::string::npos);
  EXPECT_NE(generate_agent_id(), id);
}

}  // namespace
}  // namespace pdl::agent
