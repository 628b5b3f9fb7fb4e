// GET /policy's query parser, the Rego package reader and the bundle JSON, on arbitrary bytes.
// Only invalid_input may escape the parser; what it accepts is normalised; a bundle is JSON that
// carries a module's text unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.hpp"
#include "server/policy/bundle.hpp"
#include "shared/auth/sha256.hpp"
#include "shared/model/errors.hpp"
#include "shared/model/utf8.hpp"

namespace {

using namespace pdl::server::policy;

void check_query(std::string_view query) {
  bundle_query q;
  try {
    q = parse_bundle_query(query);
  } catch (const pdl::model::invalid_input& e) {
    PDL_FUZZ_CHECK(e.path() == "path" || e.path() == "base_hash", "names the parameter");
    return;
  }
  PDL_FUZZ_CHECK(!q.paths.empty(), "at least one path");
  PDL_FUZZ_CHECK(std::is_sorted(q.paths.begin(), q.paths.end()), "paths sorted");
  PDL_FUZZ_CHECK(std::adjacent_find(q.paths.begin(), q.paths.end()) == q.paths.end(),
                 "paths unique");
  for (const auto& p : q.paths) {
    PDL_FUZZ_CHECK(!p.empty() && p.front() != '/', "relative");
    PDL_FUZZ_CHECK(p == "." || (p.find("/../") == std::string::npos && p.rfind("../", 0) != 0 &&
                                p != ".." && p.find("//") == std::string::npos),
                   "no escape");
    PDL_FUZZ_CHECK(p != "." || q.paths.size() == 1, "\".\" stands alone");
  }
  if (q.base_hash) {
    PDL_FUZZ_CHECK(q.base_hash->size() == 40 &&
                       q.base_hash->find_first_not_of("0123456789abcdef") == std::string::npos,
                   "base_hash is 40 lower-case hex");
  }
}

void check_module(std::string_view text) {
  const auto package = rego_package(text);
  if (package) {
    PDL_FUZZ_CHECK(!package->empty() && package->find_first_of(" \t\r\n#") == std::string::npos,
                   "package is one token");
    PDL_FUZZ_CHECK(rego_package("package " + *package + "\n") == package, "package round trip");
  }
  if (!pdl::model::valid_utf8(text)) {
    return;  // the directory reader refuses such files
  }
  snapshot s;
  s.hash = std::string(40, 'a');
  s.dirs = {"."};
  policy_file f;
  f.path = "p/x.rego";
  f.text = std::string(text);
  f.digest = pdl::auth::sha256_hex(f.text);
  f.package = package.value_or("");
  s.files.push_back(f);
  const auto doc = nlohmann::json::parse(full_bundle(s, {"."}));
  PDL_FUZZ_CHECK(doc["policy_modules"][0]["rego"] == f.text, "module text unchanged");
  const auto delta = nlohmann::json::parse(delta_bundle(empty_snapshot(), s, {"p"}));
  PDL_FUZZ_CHECK(delta["manifest"] == nlohmann::json({"p/x.rego"}), "delta lists the module");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_query(input);
  check_module(input);
  return 0;
}
