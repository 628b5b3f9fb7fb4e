#include "agent/backup_store.hpp"

#include <gtest/gtest.h>

#include "agent/temp_file.hpp"
#include "tests/unit/agent/fakes.hpp"
#include "tests/unit/agent/temp_dir.hpp"

namespace pdl::agent {
namespace {

using test::temp_dir;

store_body text(const std::string& t) { return store_body::from_text(t); }

/** "METHOD path body" of every write the store received, in order. */
std::vector<std::string> replayed(test::fake_store& store) {
  std::vector<std::string> out;
  for (const auto& w : store.writes()) {
    out.push_back(w.method + " " + w.path + " " + w.body);
  }
  return out;
}

TEST(backup_store, put_drops_earlier_writes_at_its_path_and_below_and_keeps_order) {
  temp_dir dir;
  backup_store b(dir.file("backup"));
  b.record("/a", true, text(R"({"x":1})"));
  b.record("/a", false, text(R"([{"op":"add","path":"/y","value":2}])"));
  b.record("/a/b", true, text("1"));
  b.record("/a/b/c", false, text("[]"));
  b.record("/ab", true, text("7"));  // a sibling with a common prefix: not below /a
  b.record("/a/b", true, text("2"));  // drops the first /a/b and the patch of /a/b/c
  b.record("/a", false, text(R"([{"op":"remove","path":"/x"}])"));

  test::fake_store store;
  const auto r = b.restore(store);
  EXPECT_EQ(r.written, 5u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(replayed(store), (std::vector<std::string>{
                                 R"(PUT /a {"x":1})",
                                 R"(PATCH /a [{"op":"add","path":"/y","value":2}])",
                                 "PUT /ab 7",
                                 "PUT /a/b 2",
                                 R"(PATCH /a [{"op":"remove","path":"/x"}])",
                             }));

  // A PUT of an ancestor drops everything below it, patches included.
  b.record("/a", true, text("{}"));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.ops()[0].path, "/ab");
  EXPECT_EQ(b.ops()[1].path, "/a");
  EXPECT_TRUE(b.ops()[1].put);
  // The root covers everything.
  b.record("", true, text(R"({"all":true})"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b.ops()[0].path, "");
  // Files of dropped writes are gone: one .data and one .meta left.
  EXPECT_EQ(dir.list("backup").size(), 2u);
}

// Found by the fault suite: PUT /a/b, then PATCH /a removing /b, then PUT /a/b again. Dropping
// the first PUT made the replayed PATCH fail (nothing to remove), so the engine rebuilt from the
// backup lost the PATCH's other operations.
TEST(backup_store, a_put_keeps_earlier_writes_an_ancestor_patch_in_between_depends_on) {
  temp_dir dir;
  {
    backup_store b(dir.file("backup"));
    b.record("/a/b", true, text(R"({"v":1})"));
    b.record("/a/b/c", false, text(R"([{"op":"add","path":"/w","value":1}])"));
    b.record("/a", false, text(R"([{"op":"remove","path":"/b"},{"op":"add","path":"/v","value":2}])"));
    b.record("/a/b/c", true, text("5"));  // below the PATCH of /a: nothing before it goes
    b.record("/a/b", true, text(R"({"v":3})"));  // drops only the /a/b/c PUT after the PATCH
    const std::vector<std::string> want{
        R"(PUT /a/b {"v":1})",
        R"(PATCH /a/b/c [{"op":"add","path":"/w","value":1}])",
        R"(PATCH /a [{"op":"remove","path":"/b"},{"op":"add","path":"/v","value":2}])",
        R"(PUT /a/b {"v":3})",
    };
    test::fake_store store;
    b.restore(store);
    EXPECT_EQ(replayed(store), want);
  }
  // Reopening must not compact them away either; a PUT of the ancestor itself still may.
  backup_store again(dir.file("backup"));
  EXPECT_EQ(again.size(), 4u);
  again.record("/a", true, text("{}"));
  EXPECT_EQ(again.size(), 1u);
}

TEST(backup_store, a_patch_beside_the_path_is_no_barrier) {
  temp_dir dir;
  backup_store b(dir.file("backup"));
  b.record("/a/b", true, text("1"));
  b.record("/a/c", false, text("[]"));  // a sibling, not an ancestor
  b.record("/a/b/d", false, text("[]"));  // below: dropped with the rest
  b.record("/a/b", true, text("2"));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.ops()[0].path, "/a/c");
  EXPECT_EQ(b.ops()[1].path, "/a/b");
}

TEST(backup_store, survives_a_reopen_with_the_same_journal) {
  temp_dir dir;
  {
    backup_store b(dir.file("backup"));
    b.record("/u", true, text(R"({"n":1})"));
    b.record("/u", false, text(R"([{"op":"add","path":"/m","value":1}])"));
  }
  backup_store again(dir.file("backup"));
  ASSERT_EQ(again.size(), 2u);
  again.record("/v", true, text("3"));  // orders continue after the loaded ones
  test::fake_store store;
  again.restore(store);
  EXPECT_EQ(replayed(store), (std::vector<std::string>{
                                 R"(PUT /u {"n":1})",
                                 R"(PATCH /u [{"op":"add","path":"/m","value":1}])",
                                 "PUT /v 3",
                             }));
}

TEST(backup_store, a_crash_mid_write_leaves_nothing_half_written) {
  temp_dir dir;
  {
    backup_store b(dir.file("backup"));
    b.record("/kept", true, text("1"));
  }
  // What a crash can leave: a temp file (before rename), a payload without its .meta (before
  // the commit), a .meta whose payload is gone, and a write a later PUT made useless but that
  // was not deleted yet.
  dir.write("backup/0000000000000005.data.tmp", "{\"half");
  dir.write("backup/0000000000000006.meta.tmp", "{\"pa");
  dir.write("backup/0000000000000007.data", "\"uncommitted\"");
  dir.write("backup/0000000000000008.meta", R"({"path":"/lost","method":"PUT","size":1})");
  dir.write("backup/0000000000000009.data", "\"old\"");
  dir.write("backup/0000000000000009.meta", R"({"path":"/x/y","method":"PUT","size":5})");
  dir.write("backup/000000000000000a.data", "{}");
  dir.write("backup/000000000000000a.meta", R"({"path":"/x","method":"PUT","size":2})");

  backup_store b(dir.file("backup"));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.ops()[0].path, "/kept");
  EXPECT_EQ(b.ops()[1].path, "/x");
  EXPECT_EQ(dir.list("backup"),
            (std::vector<std::string>{"0000000000000001.data", "0000000000000001.meta",
                                      "000000000000000a.data", "000000000000000a.meta"}));
  test::fake_store store;
  b.restore(store);
  EXPECT_EQ(replayed(store), (std::vector<std::string>{"PUT /kept 1", "PUT /x {}"}));
}

TEST(backup_store, a_fetched_file_is_linked_in_and_outlives_its_temp_file) {
  temp_dir dir;
  backup_store b(dir.file("backup"));
  {
    auto f = temp_file::create(dir.path(), "fetch");
    test::fake_store unused;
    std::ofstream(f.path(), std::ios::binary) << R"({"big":"payload"})";
    b.record("/big", true, store_body::from_file(f.path(), 17));
  }  // the temp file is unlinked here
  test::fake_store store;
  b.restore(store);
  ASSERT_EQ(store.writes().size(), 1u);
  EXPECT_EQ(store.writes()[0].body, R"({"big":"payload"})");
}

TEST(backup_store, restore_skips_refused_writes_and_stops_when_the_engine_is_gone) {
  temp_dir dir;
  backup_store b(dir.file("backup"));
  b.record("/bad", true, text("1"));
  b.record("/good", true, text("2"));
  test::fake_store store;
  store.fail_path("/bad", 400);
  auto r = b.restore(store);
  EXPECT_EQ(r.written, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("/bad"), std::string::npos);

  test::fake_store down;
  down.fail_path("/bad", 0);  // status 0: the engine was not reached
  EXPECT_THROW(b.restore(down), store_error);
  EXPECT_TRUE(down.writes().empty());
}

}  // namespace
}  // namespace pdl::agent
