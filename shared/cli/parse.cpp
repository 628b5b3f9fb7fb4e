#include "shared/cli/parse.hpp"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace pdl::cli {
namespace {

/** An option name (`--uri`, `-t`) is safe to print; any other word may be a secret. */
bool looks_like_option_name(const std::string& arg) {
  if (arg.size() == 2 && arg[0] == '-' && std::isalpha(static_cast<unsigned char>(arg[1]))) {
    return true;
  }
  if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
    return false;
  }
  const auto end = arg.find('=');
  for (std::size_t i = 2; i < std::min(end, arg.size()); ++i) {
    const auto c = static_cast<unsigned char>(arg[i]);
    if (!std::isalnum(c) && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

}  // namespace

void print_unexpected_arguments(const std::vector<std::string>& extras, std::string_view program) {
  std::cerr << "unexpected argument" << (extras.size() == 1 ? "" : "s") << ":";
  bool hidden = false;
  for (const auto& arg : extras) {
    if (looks_like_option_name(arg)) {
      std::cerr << ' ' << arg.substr(0, arg.find('='));
    } else {
      hidden = true;
      std::cerr << " <a value of " << arg.size() << " characters, not shown>";
    }
  }
  std::cerr << '\n';
  if (hidden) {
    std::cerr << "A token that starts with '-' goes after '--' (obtain-token -- TOKEN) or as "
                 "--option=TOKEN.\n";
  }
  std::cerr << "Run " << program << " --help for more information.\n";
}

int parse_command_line(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::ExtrasError& e) {
    print_unexpected_arguments(app.remaining(true), app.get_name());
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
}

}  // namespace pdl::cli
