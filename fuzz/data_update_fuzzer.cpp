// Update parser + validator: whatever parse_data_update accepts, validate() accepts too, and
// to_json() of it parses back to an equal update (the server relays what it accepted, so a
// round trip that changes or loses a field would change what agents apply).
// Any exception other than invalid_input is a contract violation and crashes the target.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "shared/model/data_update.hpp"

namespace {

void check_update(std::string_view input) {
  pdl::model::data_update update;
  try {
    update = pdl::model::parse_data_update(input);
  } catch (const pdl::model::invalid_input& e) {
    PDL_FUZZ_CHECK(e.what()[0] != '\0', "empty error message");
    return;
  }
  pdl::model::validate(update);  // must not throw: parse promised a validated update
  const std::string json = pdl::model::to_json(update);
  pdl::model::data_update again;
  try {
    again = pdl::model::parse_data_update(json);
  } catch (const pdl::model::invalid_input& e) {
    std::fprintf(stderr, "re-parse of %s failed: %s\n", json.c_str(), e.what());
    PDL_FUZZ_CHECK(false, "to_json output does not parse");
  }
  PDL_FUZZ_CHECK(again == update, "round trip changed the update");
  PDL_FUZZ_CHECK(pdl::model::to_json(again) == json, "to_json is not stable");
}

void check_source_config(std::string_view input) {
  std::vector<pdl::model::data_source_entry> entries;
  try {
    entries = pdl::model::parse_data_source_config(input);
  } catch (const pdl::model::invalid_input&) {
    return;
  }
  const std::string json = pdl::model::data_source_config_to_json(entries);
  std::vector<pdl::model::data_source_entry> again;
  try {
    again = pdl::model::parse_data_source_config(json);
  } catch (const pdl::model::invalid_input& e) {
    std::fprintf(stderr, "re-parse of %s failed: %s\n", json.c_str(), e.what());
    PDL_FUZZ_CHECK(false, "data_source_config_to_json output does not parse");
  }
  PDL_FUZZ_CHECK(again == entries, "round trip changed the entries");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_update(input);
  check_source_config(input);
  return 0;
}
