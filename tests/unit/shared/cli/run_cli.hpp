#pragma once
// Test helper: parse arguments as a binary would and run the chosen shared verb, capturing
// stdout and stderr.
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "shared/cli/commands.hpp"
#include "shared/cli/parse.hpp"

namespace pdl::test {

struct cli_outcome {
  int code;         // the verb's exit code; 100 + CLI11's code for a parse error
  std::string out;
  std::string err;
};

inline cli_outcome run_cli(std::vector<std::string> args) {
  CLI::App app("test");
  cli::common_commands commands(app);
  args.insert(args.begin(), "opal-test");
  std::vector<const char*> argv;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  const int rc = cli::parse_command_line(app, static_cast<int>(argv.size()), argv.data());
  const int code = rc >= 0 ? 100 + rc : commands.run_selected();
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {code, out.str(), err.str()};
}

}  // namespace pdl::test
