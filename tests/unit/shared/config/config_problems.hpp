#pragma once
// Test helpers shared by the config tests: the problems a loader reports, as strings, and a
// set of certificates generated once per suite.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "shared/config/config_error.hpp"
#include "shared/config/server_config.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_certs.hpp"

namespace pdl::config::test {

/** Loads @p path with @p load (load_agent_config, load_server_config) and returns what it
 *  refused, as "where: message" lines; empty when the file loaded. */
template <class Load>
std::vector<std::string> problems_when_loading(Load load, const std::string& path,
                                               const env_map& env) {
  try {
    (void)load(path, env);
  } catch (const config_error& e) {
    std::vector<std::string> out;
    for (const auto& p : e.problems()) {
      out.push_back(p.where + ": " + p.message);
    }
    return out;
  }
  return {};
}

/** Base of the suites that need certificate files (a CA, server and client pairs). */
class certs_suite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<::pdl::test::temp_dir>();
    certs_ = std::make_unique<::pdl::test::test_certs>(
        ::pdl::test::test_certs::generate(dir_->path()));
  }
  static void TearDownTestSuite() {
    certs_.reset();
    dir_.reset();
  }
  static inline std::unique_ptr<::pdl::test::temp_dir> dir_;
  static inline std::unique_ptr<::pdl::test::test_certs> certs_;
};

}  // namespace pdl::config::test
