#pragma once
// The base of the integration tests that run real processes: a temporary directory for their
// logs and port files, and the group that starts them and kills them when the test ends.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/support/process_group.hpp"

namespace pdl::test {

class process_fixture : public ::testing::Test {
 protected:
  /** process_group::start_with_port: the port @p name listens on. */
  int start_with_port(const std::string& name, const std::string& bin,
                      std::vector<std::string> args,
                      const std::map<std::string, std::string>& env = {}) {
    return procs.start_with_port(name, bin, std::move(args), env);
  }
  /** "http://127.0.0.1:<port>" */
  static std::string url(int port) { return loopback_url(port); }

  /** A JWT of @p type ("client", "datasource", "listener") from the server on @p server_port,
   *  minted as a user would: `opal-client obtain-token <master> --uri=... --type <type>`. */
  static std::string mint_token(int server_port, const std::string& master,
                                const std::string& type) {
    auto r = run_command(binary_path("opal-client"),
                         {"obtain-token", master, "--uri=" + url(server_port), "--type", type});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return last_line(r.output);
  }

  temp_dir dir;  // declared before procs: the group's logs live in it
  process_group procs{dir};
};

}  // namespace pdl::test
