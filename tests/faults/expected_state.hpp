#pragma once
// What an agent's engine must hold: the acknowledged updates whose entries match its topics,
// applied in the server's seq order, with OPA's own PUT/PATCH semantics (the stand-in's emulator,
// in process). Fetched entries are resolved from their /echo URL, which carries the payload.
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace pdl::test::faults {

/** @p acked: seq -> the update's POST body. @return the data document (without /system). */
nlohmann::json expected_document(const std::map<std::uint64_t, nlohmann::json>& acked,
                                 const std::set<std::string>& topics);

/** The payload an entry writes: its inline data, or the JSON in its /echo URL. */
nlohmann::json entry_payload(const nlohmann::json& entry);

/** Up to @p max lines "path: expected X, got Y" naming the first differing paths. */
std::string json_diff(const nlohmann::json& expected, const nlohmann::json& actual,
                      std::size_t max = 10);

}  // namespace pdl::test::faults
