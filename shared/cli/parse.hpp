#pragma once
// Command-line parsing shared by both binaries' mains: CLI11's own errors, except that an
// unexpected argument is never echoed back, because it is most often a token pasted in the
// wrong place (a secret must not reach a terminal log or CI output).

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace pdl::cli {

/** Parses @p argv into @p app. Returns -1 when parsing succeeded (go on), otherwise the exit
 *  code to return from main after the error or --help text has been printed. */
int parse_command_line(CLI::App& app, int argc, const char* const* argv);

/** Prints "unexpected argument(s): ..." to stderr: option names as they are, any other value
 *  as its length only, and how to pass a token that starts with '-'. */
void print_unexpected_arguments(const std::vector<std::string>& extras, std::string_view program);

}  // namespace pdl::cli
