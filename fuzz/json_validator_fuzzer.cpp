// The incremental JSON validator against nlohmann's accept() on the same bytes (RFC 8259, no
// comments), and against itself across chunkings: the verdict, the error text (offsets count
// from the document start) and the root type must not depend on where chunks end.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.hpp"
#include "shared/model/json_validator.hpp"

namespace {

using pdl::model::json_type;
using pdl::model::json_validator;

struct verdict {
  bool ok = false;
  std::string error;
  std::optional<json_type> root;
};

/** Feeds @p doc in chunks whose sizes come from a small PRNG seeded with @p seed
 *  (seed 0: one byte at a time). */
verdict run_chunked(std::string_view doc, std::uint64_t seed, std::size_t max_depth) {
  json_validator v(max_depth);
  bool ok = true;
  std::size_t pos = 0;
  while (pos < doc.size() && ok) {
    std::size_t n = 1;
    if (seed != 0) {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      n = 1 + seed % 17;
    }
    n = std::min(n, doc.size() - pos);
    ok = v.feed(doc.substr(pos, n));
    pos += n;
  }
  if (ok) {
    ok = v.finish();
  }
  return {ok, v.error(), v.root_type()};
}

/** True when nlohmann refuses @p doc for something other than syntax: ill-formed UTF-8, an
 *  unpaired \\u surrogate escape, or a number beyond double's range ("1e400", valid JSON).
 *  json_validator checks syntax only (see its unit tests): OPA (Go's encoding/json) turns bad
 *  encodings into U+FFFD and keeps big numbers as text, instead of refusing the document. */
bool non_syntax_error(std::string_view doc) {
  try {
    (void)nlohmann::json::parse(doc);
  } catch (const nlohmann::json::parse_error& e) {
    const std::string_view what = e.what();
    return what.find("UTF-8") != std::string_view::npos ||
           what.find("surrogate") != std::string_view::npos;
  } catch (const nlohmann::json::out_of_range&) {
    return true;  // "number overflow parsing '1e400'"
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view doc(reinterpret_cast<const char*>(data), size);
  // Depth is unlimited here so the comparison with nlohmann (which has no limit) is fair.
  constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

  json_validator whole(unlimited);
  const bool fed = whole.feed(doc);
  const verdict one{fed && whole.finish(), whole.error(), whole.root_type()};
  PDL_FUZZ_CHECK(one.ok == one.error.empty(), "verdict and error disagree");

  // nlohmann skips a UTF-8 byte order mark (RFC 8259 forbids adding one, so we refuse it) and
  // stops at a NUL byte as if the input ended there: no reference verdict for such inputs.
  const bool bom = doc.size() >= 3 && doc.substr(0, 3) == "\xEF\xBB\xBF";
  if (!bom && doc.find('\0') == std::string_view::npos) {
    bool reference = nlohmann::json::accept(doc);
    if (!reference && one.ok && non_syntax_error(doc)) {
      reference = true;  // a documented non-goal of json_validator, see non_syntax_error
    }
    if (reference != one.ok) {
      std::fprintf(stderr, "nlohmann accept=%d, json_validator: %s\n", reference,
                   one.ok ? "valid" : one.error.c_str());
    }
    PDL_FUZZ_CHECK(reference == one.ok, "disagrees with nlohmann::json::accept");
  }

  std::uint64_t seed = 0x9E3779B97F4A7C15ull ^ size;
  for (std::size_t i = 0; i < size && i < 8; ++i) {
    seed = seed * 131 + data[i];
  }
  for (const std::uint64_t s : {std::uint64_t{0}, seed | 1}) {
    const verdict chunked = run_chunked(doc, s, unlimited);
    PDL_FUZZ_CHECK(chunked.ok == one.ok, "verdict depends on chunking");
    PDL_FUZZ_CHECK(chunked.error == one.error, "error text depends on chunking");
    PDL_FUZZ_CHECK(chunked.root == one.root, "root type depends on chunking");
  }

  // The depth limit only ever turns valid into invalid.
  const verdict shallow = run_chunked(doc, seed | 1, 4);
  PDL_FUZZ_CHECK(!shallow.ok || one.ok, "a depth limit made invalid input valid");

  // validate_json is the one-shot form of the same machine (its default depth).
  std::optional<json_type> root;
  const std::string err = pdl::model::validate_json(doc, &root);
  PDL_FUZZ_CHECK(err.empty() == run_chunked(doc, seed | 1, 512).ok, "validate_json differs");
  return 0;
}
