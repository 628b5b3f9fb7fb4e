#pragma once
// A process's memory by mapping, from /proc/<pid>/smaps and /proc/<pid>/status: the figures the
// agent's footprint targets are stated in (VmRSS, RssAnon, PSS, private pages, private dirty
// file-backed pages) and the same counters summed per group of mappings: the executable,
// libcurl, the libraries mapped only because libcurl needs them, OpenSSL (when the executable
// uses it itself, e.g. for its own TLS), the other libraries, the heap,
// the other anonymous memory (thread stacks, malloc arenas, libraries' .bss).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>

namespace pdl::bench {

/** smaps counters summed over some mappings, in KiB. */
struct mem_counts {
  std::int64_t rss_kb = 0;
  std::int64_t pss_kb = 0;
  std::int64_t private_clean_kb = 0;
  std::int64_t private_dirty_kb = 0;
  /** Anonymous pages: heap, stacks, and the copy-on-write copies a file mapping got when
   *  written (a library's relocated GOT and .data.rel.ro pages are anonymous, not file pages). */
  std::int64_t anon_kb = 0;
  /** Private_Dirty minus Anonymous, per mapping: file pages only this process maps that are
   *  dirty in the page cache (e.g. a binary written moments ago and not yet written back). */
  std::int64_t private_dirty_file_kb = 0;
  int mappings = 0;

  /** Private_Clean + Private_Dirty: also counts clean file pages no other process maps. */
  std::int64_t private_kb() const { return private_clean_kb + private_dirty_kb; }
  /** The "private memory": RssAnon plus private dirty file-backed pages. */
  std::int64_t own_kb() const { return anon_kb + private_dirty_file_kb; }
  void add(const mem_counts& o);
};

struct mem_profile {
  // /proc/<pid>/status
  std::int64_t vm_rss_kb = 0;
  std::int64_t vm_hwm_kb = 0;
  std::int64_t rss_anon_kb = 0;
  std::int64_t rss_file_kb = 0;
  std::int64_t threads = 0;
  // /proc/<pid>/smaps
  mem_counts total;
  mem_counts binary;        // the executable's own mappings
  mem_counts curl;          // libcurl.so*
  mem_counts curl_deps;     // libraries in libcurl's DT_NEEDED closure that nothing else needs
  mem_counts openssl;       // libssl*, libcrypto* when the executable needs them itself too
  mem_counts other_libs;    // every other file mapping (libc, libstdc++, spdlog, ...)
  mem_counts heap;          // [heap]
  mem_counts other_anon;    // unnamed anonymous mappings, [stack], [vdso], [vvar]
  std::map<std::string, mem_counts> by_name;  // per file name ("libssl.so.3"), "[anon]", "[heap]"
  std::set<std::string> curl_dep_names;        // file names of the curl_deps mappings
};

/** Reads /proc/<pid>/status and /proc/<pid>/smaps (and the mapped ELF files' DT_NEEDED, to tell
 *  libcurl's dependencies from the binary's own). @throws std::runtime_error when the process
 *  is gone. */
mem_profile read_profile(int pid);

/** The @p n names with the most of the private memory (own_kb), "libcrypto.so.3 404 KiB,
 *  [heap] 336 KiB, ...". */
std::string top_private(const mem_profile& p, int n);

/** A Markdown table: one row per group (executable, libcurl, libcurl's dependencies, OpenSSL,
 *  other libraries, heap, other anonymous, total), columns Rss, PSS, Private_Clean, Private_Dirty,
 *  Anonymous, in KiB. */
std::string profile_table(const mem_profile& p);

/** Samples a process while it works: RssAnon and VmRSS from /proc/<pid>/status every
 *  @p every, and (with @p profiles) a full read_profile each time RssAnon passed the last
 *  profiled value by 16 KiB (at most every 25 ms, so smaps walks do not slow the process down
 *  much). The peak is the highest RssAnon sample (plus the private dirty file pages of the
 *  profile taken nearest to it) and the profile taken at the highest private memory. */
class mem_sampler {
 public:
  mem_sampler(int pid, std::chrono::microseconds every, bool profiles = true);
  ~mem_sampler();
  mem_sampler(const mem_sampler&) = delete;
  mem_sampler& operator=(const mem_sampler&) = delete;

  /** Stops sampling (idempotent); the results below are final afterwards. */
  void stop();
  std::int64_t peak_anon_kb() const { return peak_anon_kb_; }
  std::int64_t peak_rss_kb() const { return peak_rss_kb_; }
  std::int64_t samples() const { return samples_; }
  /** The profile with the highest own_kb; empty (all zero) when none was taken. */
  const mem_profile& peak_profile() const { return peak_profile_; }

 private:
  void run();

  int pid_;
  std::chrono::microseconds every_;
  bool profiles_;
  std::atomic<bool> stop_{false};
  std::int64_t peak_anon_kb_ = 0;
  std::int64_t peak_rss_kb_ = 0;
  std::int64_t samples_ = 0;
  mem_profile peak_profile_;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace pdl::bench
