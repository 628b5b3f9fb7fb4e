#include "agent/data_directory.hpp"

#include <unistd.h>

#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "agent/atomic_file.hpp"

namespace pdl::agent {
namespace {

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string generate_agent_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string out;
  for (const char* p = host; *p != '\0' && out.size() < 48; ++p) {
    const char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
        c == '_' || c == '-') {
      out += c;
    }
  }
  if (out.empty()) {
    out = "agent";
  }
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  out += '-';
  for (int i = 0; i < 12; ++i) {
    out += "0123456789abcdef"[hex(rd)];
  }
  return out;
}

std::unique_ptr<data_directory> data_directory::open(const std::string& path) {
  std::unique_ptr<data_directory> d(new data_directory());
  d->path_ = path;
  while (d->path_.size() > 1 && d->path_.back() == '/') {
    d->path_.pop_back();
  }
  make_directories(d->path_);

  const std::string id_file = d->path_ + "/agent_id";
  std::string text;
  if (read_small_file(id_file, text, 1024)) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
      text.pop_back();
    }
    if (!valid_id(text)) {
      throw std::runtime_error("'" + id_file + "' does not hold an agent id (1-64 characters "
                               "of [A-Za-z0-9._-]); fix or delete it");
    }
    d->agent_id_ = text;
  } else {
    d->agent_id_ = generate_agent_id();
    write_file_atomically(id_file, d->agent_id_ + "\n");
  }

  const std::string state_file = d->path_ + "/state.json";
  if (read_small_file(state_file, text, 64 * 1024)) {
    try {
      const auto j = nlohmann::json::parse(text);
      const auto& seq = j.at("last_applied_seq");
      if (!seq.is_null()) {
        d->loaded_.last_applied_seq = seq.get<std::uint64_t>();
      }
      d->loaded_.base_loaded = j.value("base_loaded", false);
      d->loaded_.server_log_id = j.value("server_log_id", std::string());
      if (d->loaded_.server_log_id.size() > 64) {
        d->loaded_.server_log_id.clear();  // not one of ours: forget it
      }
    } catch (const nlohmann::json::exception&) {
      throw std::runtime_error("'" + state_file + "' is not the agent's state "
                               "({\"last_applied_seq\":N,\"base_loaded\":bool,\"server_log_id\":\"...\"}); "
                               "delete it to "
                               "resynchronise from the server");
    }
  }
  d->backup_ = std::make_unique<backup_store>(d->path_ + "/backup");
  return d;
}

void data_directory::save(const saved_state& state) {
  std::lock_guard lock(save_mu_);
  nlohmann::json j{{"last_applied_seq", state.last_applied_seq ? nlohmann::json(*state.last_applied_seq)
                                                               : nlohmann::json()},
                   {"base_loaded", state.base_loaded},
                   {"server_log_id", state.server_log_id}};
  write_file_atomically(path_ + "/state.json", j.dump());
}

}  // namespace pdl::agent
