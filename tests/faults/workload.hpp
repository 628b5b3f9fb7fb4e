#pragma once
// The fault suite's updates, drawn from a seeded RNG: PUT and PATCH, inline and fetched (through
// the fake source's /echo), over overlapping paths and topics, plus a few invalid ones the server
// must refuse. Every value written carries the update's index as "v", so a store snapshot tells
// which update wrote what.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pdl::test::faults {

/** Topics and paths the workload draws from; agents subscribe to subsets of the topics. */
inline const std::vector<std::string> workload_topics = {"t0", "t1", "t2", "t3", "t4", "t5"};
inline const std::vector<std::string> workload_paths = {"/a",   "/a/b", "/a/b/c", "/a/d",
                                                        "/x",   "/x/y", "/m/n",   "/m"};

struct planned_update {
  std::uint64_t index = 0;   // 1, 2, ...: the "v" its values carry
  std::string id;            // unique update id sent to the server
  nlohmann::json body;       // the POST /data/config document (entries carry inline or echo URLs)
  bool valid = true;         // false: the server must refuse it (422) and nothing may apply it
};

class workload {
 public:
  /** @param echo_base "http://127.0.0.1:PORT/echo" of the fake source. */
  workload(std::uint64_t seed, std::string run_tag, std::string echo_base);

  /** The next update (index = previous + 1). */
  planned_update next();

 private:
  nlohmann::json put_value(std::uint64_t v, const std::string& path);
  nlohmann::json patch_ops(std::uint64_t v);
  nlohmann::json entry(std::uint64_t v);

  std::mt19937_64 rng_;
  std::string tag_;
  std::string echo_base_;
  std::uint64_t index_ = 0;
};

/** Percent-encodes everything but unreserved characters (RFC 3986). */
std::string url_encode(const std::string& s);

}  // namespace pdl::test::faults
