#include "shared/publisher/delivery_status.hpp"

#include <stdexcept>

namespace pdl::publisher {
namespace {

constexpr std::size_t max_text_chars = 1000;
constexpr std::size_t max_list_items = 100000;

/** Server text ends up on a terminal: no escape sequences, no unbounded lines. */
std::string printable(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = ' ';
    }
  }
  if (s.size() > max_text_chars) {
    s = s.substr(0, max_text_chars) + "...";
  }
  return s;
}

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  throw std::invalid_argument(field + ": " + what);
}

std::string text_at(const nlohmann::json& v, const std::string& field) {
  if (!v.is_string()) {
    bad(field, "expected a string");
  }
  return printable(v.get<std::string>());
}

const nlohmann::json* list_at(const nlohmann::json& obj, const char* key,
                              const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return nullptr;
  }
  if (!it->is_array()) {
    bad(field, "expected a list");
  }
  if (it->size() > max_list_items) {
    bad(field, "more than 100000 items");
  }
  return &*it;
}

std::vector<std::string> strings_at(const nlohmann::json& obj, const char* key,
                                    const std::string& field) {
  std::vector<std::string> out;
  if (const auto* list = list_at(obj, key, field)) {
    out.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      out.push_back(text_at((*list)[i], field + "[" + std::to_string(i) + "]"));
    }
  }
  return out;
}

}  // namespace

delivery_status parse_delivery_status(const nlohmann::json& doc) {
  if (!doc.is_object()) {
    bad("delivery status", "expected a JSON object");
  }
  delivery_status s;
  auto id = doc.find("id");
  if (id == doc.end()) {
    bad("id", "missing");
  }
  s.id = text_at(*id, "id");
  if (auto seq = doc.find("seq"); seq != doc.end() && !seq->is_null()) {
    if (!seq->is_number_unsigned()) {
      bad("seq", "expected a non-negative integer");
    }
    s.seq = seq->get<std::uint64_t>();
  }
  s.topics = strings_at(doc, "topics", "topics");
  if (auto at = doc.find("accepted_at"); at != doc.end() && !at->is_null()) {
    s.accepted_at = text_at(*at, "accepted_at");
  }
  auto complete = doc.find("complete");
  if (complete == doc.end() || !complete->is_boolean()) {
    bad("complete", "expected true or false");
  }
  s.complete = complete->get<bool>();

  auto agents = doc.find("agents");
  if (agents == doc.end() || !agents->is_object()) {
    bad("agents", "expected an object");
  }
  s.subscribed = strings_at(*agents, "subscribed", "agents.subscribed");
  s.applied = strings_at(*agents, "applied", "agents.applied");
  s.pending = strings_at(*agents, "pending", "agents.pending");
  if (const auto* failed = list_at(*agents, "failed", "agents.failed")) {
    for (std::size_t i = 0; i < failed->size(); ++i) {
      const auto field = "agents.failed[" + std::to_string(i) + "]";
      const auto& f = (*failed)[i];
      if (!f.is_object()) {
        bad(field, "expected {\"agent\": ..., \"errors\": [...]}");
      }
      agent_failure one;
      auto agent = f.find("agent");
      if (agent == f.end()) {
        bad(field + ".agent", "missing");
      }
      one.agent = text_at(*agent, field + ".agent");
      one.errors = strings_at(f, "errors", field + ".errors");
      s.failed.push_back(std::move(one));
    }
  }
  if (auto replicas = doc.find("replicas"); replicas != doc.end() && !replicas->is_null()) {
    if (!replicas->is_object()) {
      bad("replicas", "expected an object");
    }
    s.waiting_replicas = strings_at(*replicas, "waiting", "replicas.waiting");
  }
  return s;
}

}  // namespace pdl::publisher
