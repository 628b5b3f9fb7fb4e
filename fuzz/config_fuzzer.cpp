// YAML config loader: the input is written to a temp file and loaded as both an agent and a
// server config, with an empty environment. The loaders promise config_error (listing every
// problem, each with where and what) for any bad file; any other exception crashes the target.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_check.hpp"
#include "shared/config/agent_config.hpp"
#include "shared/config/config_error.hpp"
#include "shared/config/server_config.hpp"

namespace {

/** One temp file per process, removed at exit; rewritten for every input. */
const std::string& temp_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string templ = std::string(dir && *dir ? dir : "/tmp") + "/pdl_fuzz_config_XXXXXX";
    const int fd = ::mkstemp(templ.data());
    PDL_FUZZ_CHECK(fd >= 0, "mkstemp");
    ::close(fd);
    static const std::string keep = templ;
    std::atexit([] { std::remove(keep.c_str()); });
    return templ;
  }();
  return path;
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  PDL_FUZZ_CHECK(f != nullptr, "open temp file");
  PDL_FUZZ_CHECK(std::fwrite(data, 1, size, f) == size, "write temp file");
  PDL_FUZZ_CHECK(std::fclose(f) == 0, "close temp file");
}

void check_problems(const pdl::config::config_error& e) {
  PDL_FUZZ_CHECK(!e.problems().empty(), "config_error without problems");
  for (const auto& p : e.problems()) {
    PDL_FUZZ_CHECK(!p.message.empty(), "problem without message");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = temp_path();
  write_file(path, data, size);
  const pdl::config::env_map env;
  try {
    const auto cfg = pdl::config::load_agent_config(path, env);
    PDL_FUZZ_CHECK(!cfg.server_urls.empty(), "agent config without server url");
  } catch (const pdl::config::config_error& e) {
    check_problems(e);
  }
  try {
    const auto cfg = pdl::config::load_server_config(path, env);
    PDL_FUZZ_CHECK(cfg.threads > 0, "server config with no threads");
  } catch (const pdl::config::config_error& e) {
    check_problems(e);
  }
  return 0;
}
