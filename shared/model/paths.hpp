#pragma once
// dst_path handling: what OPAL users write ("users", "/users/", "", ".") to what OPA expects.
#include <string>
#include <string_view>
#include <vector>

namespace pdl::model {

/** Splits a dst_path into its segments. "", "/", "." are the root (no segments); a leading '/'
 *  is optional; one trailing '/' is dropped (OPA would answer 301). Segments are raw (not
 *  percent-decoded). @throws invalid_input for an empty, "." or ".." segment in the middle. */
std::vector<std::string> split_dst_path(std::string_view dst_path);

/** "/" + segments joined by "/" ("" for the root): the canonical form, used for logging and for
 *  deciding which writes overlap. */
std::string normalize_dst_path(std::string_view dst_path);

/** The OPA data API path for a dst_path: "/v1/data" + "/" + percent-encoded segment ... */
std::string opa_data_url_path(std::string_view dst_path);

/** True when one normalised path is equal to, or an ancestor of, the other (segment-wise:
 *  "/a" overlaps "/a/b" but not "/ab"). The root overlaps everything. */
bool paths_overlap(std::string_view normalized_a, std::string_view normalized_b);

}  // namespace pdl::model
