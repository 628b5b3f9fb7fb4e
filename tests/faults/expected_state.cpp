#include "tests/faults/expected_state.hpp"

#include <optional>
#include <stdexcept>

#include "shared/http/url.hpp"
#include "tests/fakes/opa_standin/opa_emulator.hpp"

namespace pdl::test::faults {

using nlohmann::json;

namespace {

void diff_into(const json& e, const json& a, const std::string& path, std::vector<std::string>& out,
               std::size_t max) {
  if (out.size() >= max || e == a) return;
  if (e.is_object() && a.is_object()) {
    for (auto& [k, v] : e.items()) {
      if (!a.contains(k)) {
        out.push_back(path + "/" + k + ": missing, expected " + v.dump().substr(0, 200));
      } else {
        diff_into(v, a.at(k), path + "/" + k, out, max);
      }
      if (out.size() >= max) return;
    }
    for (auto& [k, v] : a.items()) {
      if (!e.contains(k) && out.size() < max) {
        out.push_back(path + "/" + k + ": unexpected " + v.dump().substr(0, 200));
      }
    }
    return;
  }
  out.push_back((path.empty() ? "/" : path) + ": expected " + e.dump().substr(0, 200) + ", got " +
                a.dump().substr(0, 200));
}

}  // namespace

json entry_payload(const json& entry) {
  if (!entry.at("data").is_null()) return entry.at("data");
  const std::string url = entry.at("url").get<std::string>();
  auto q = url.find("?json=");
  if (q == std::string::npos) throw std::runtime_error("entry without data nor echo url");
  return json::parse(pdl::percent_decode(url.substr(q + 6)));
}

json expected_document(const std::map<std::uint64_t, json>& acked,
                       const std::set<std::string>& topics) {
  fakes::opa_emulator engine;
  for (const auto& [seq, body] : acked) {
    for (const auto& entry : body.at("entries")) {
      bool match = false;
      for (const auto& t : entry.at("topics")) match = match || topics.count(t.get<std::string>());
      if (!match) continue;
      fakes::http_request req;
      req.method = entry.at("save_method") == "PUT" ? "PUT" : "PATCH";
      req.target = "/v1/data" + entry.at("dst_path").get<std::string>();
      req.body = entry_payload(entry).dump();
      if (req.method == "PATCH") req.headers.emplace_back("Content-Type", "application/json-patch+json");
      engine.handle(req);  // a failing PATCH changes nothing, as in the real engine
    }
  }
  json doc = engine.store().root();
  doc.erase("system");
  return doc;
}

std::string json_diff(const json& expected, const json& actual, std::size_t max) {
  std::vector<std::string> lines;
  diff_into(expected, actual, "", lines, max);
  std::string s;
  for (auto& l : lines) s += "  " + l + "\n";
  return s;
}

}  // namespace pdl::test::faults
