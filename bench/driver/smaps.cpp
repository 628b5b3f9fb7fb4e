#include "bench/driver/smaps.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace pdl::bench {
namespace {

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/** DT_NEEDED entries of a 64-bit ELF file; empty when it cannot be read. */
std::vector<std::string> elf_needed(const std::string& path) {
  std::vector<std::string> out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st{};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    ::close(fd);
    return out;
  }
  auto size = static_cast<std::size_t>(st.st_size);
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return out;
  const auto* base = static_cast<const unsigned char*>(m);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  auto in_file = [&](std::uint64_t off, std::uint64_t len) { return off <= size && len <= size - off; };
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      in_file(eh->e_phoff, std::uint64_t{eh->e_phnum} * sizeof(Elf64_Phdr))) {
    const auto* ph = reinterpret_cast<const Elf64_Phdr*>(base + eh->e_phoff);
    const Elf64_Phdr* dyn = nullptr;
    for (int i = 0; i < eh->e_phnum; ++i) {
      if (ph[i].p_type == PT_DYNAMIC) dyn = &ph[i];
    }
    // Addresses in the dynamic section are virtual: map them back through the PT_LOAD headers.
    auto to_offset = [&](std::uint64_t vaddr) -> std::uint64_t {
      for (int i = 0; i < eh->e_phnum; ++i) {
        if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr && vaddr < ph[i].p_vaddr + ph[i].p_filesz) {
          return vaddr - ph[i].p_vaddr + ph[i].p_offset;
        }
      }
      return size;
    };
    if (dyn != nullptr && in_file(dyn->p_offset, dyn->p_filesz)) {
      const auto* d = reinterpret_cast<const Elf64_Dyn*>(base + dyn->p_offset);
      std::size_t n = dyn->p_filesz / sizeof(Elf64_Dyn);
      std::uint64_t strtab = size;
      std::vector<std::uint64_t> names;
      for (std::size_t i = 0; i < n && d[i].d_tag != DT_NULL; ++i) {
        if (d[i].d_tag == DT_STRTAB) strtab = to_offset(d[i].d_un.d_ptr);
        if (d[i].d_tag == DT_NEEDED) names.push_back(d[i].d_un.d_val);
      }
      for (auto off : names) {
        if (strtab < size && off < size - strtab) {
          const char* s = reinterpret_cast<const char*>(base + strtab + off);
          out.emplace_back(s, ::strnlen(s, size - strtab - off));
        }
      }
    }
  }
  ::munmap(m, size);
  return out;
}

/** The mapped file a DT_NEEDED name resolved to: "libstdc++.so.6" -> "libstdc++.so.6.0.30". */
std::string resolve(const std::string& needed, const std::map<std::string, std::string>& mapped) {
  for (const auto& [name, path] : mapped) {
    if (name == needed || name.rfind(needed + ".", 0) == 0) return name;
  }
  return {};
}

/** File names in the DT_NEEDED closure of @p roots (names of mapped files). */
std::set<std::string> closure(std::vector<std::string> roots,
                              const std::map<std::string, std::string>& mapped) {
  std::set<std::string> seen;
  while (!roots.empty()) {
    std::string name = roots.back();
    roots.pop_back();
    if (name.empty() || !seen.insert(name).second) continue;
    auto it = mapped.find(name);
    if (it == mapped.end()) continue;
    for (const auto& n : elf_needed(it->second)) roots.push_back(resolve(n, mapped));
  }
  return seen;
}

bool is_curl(const std::string& name) {
  return name.rfind("libcurl.so", 0) == 0 || name.rfind("libcurl-", 0) == 0;
}

struct raw_mapping {
  std::string name;  // file name, or "[heap]", "[stack]", "[anon]", ...
  std::string path;  // full path for a file mapping
  mem_counts c;
};

std::string kib(std::int64_t v) { return std::to_string(v); }

}  // namespace

void mem_counts::add(const mem_counts& o) {
  rss_kb += o.rss_kb;
  pss_kb += o.pss_kb;
  private_clean_kb += o.private_clean_kb;
  private_dirty_kb += o.private_dirty_kb;
  anon_kb += o.anon_kb;
  private_dirty_file_kb += o.private_dirty_file_kb;
  mappings += o.mappings;
}

mem_profile read_profile(int pid) {
  mem_profile p;
  std::string proc = "/proc/" + std::to_string(pid);
  {
    std::ifstream in(proc + "/status");
    if (!in) throw std::runtime_error("process " + std::to_string(pid) + " is gone");
    std::string line;
    auto field = [&](const char* name, std::int64_t& out) {
      std::size_t n = std::strlen(name);
      if (line.compare(0, n, name) == 0) out = std::atoll(line.c_str() + n);
    };
    while (std::getline(in, line)) {
      field("VmRSS:", p.vm_rss_kb);
      field("VmHWM:", p.vm_hwm_kb);
      field("RssAnon:", p.rss_anon_kb);
      field("RssFile:", p.rss_file_kb);
      field("Threads:", p.threads);
    }
  }
  std::vector<raw_mapping> maps;
  {
    std::ifstream in(proc + "/smaps");
    if (!in) throw std::runtime_error("process " + std::to_string(pid) + " is gone");
    std::string line;
    while (std::getline(in, line)) {
      auto colon = line.find(':');
      auto space = line.find(' ');
      if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
          line.find('-') < space && (colon == std::string::npos || colon > space)) {
        // "addr-addr perms offset dev inode   path"
        std::istringstream ls(line);
        std::string range, perms, offset, dev, inode, path;
        ls >> range >> perms >> offset >> dev >> inode;
        std::getline(ls >> std::ws, path);
        raw_mapping m;
        m.path = path.empty() || path[0] == '[' ? "" : path;
        m.name = path.empty() ? "[anon]" : path[0] == '[' ? path : base_name(path);
        m.c.mappings = 1;
        maps.push_back(std::move(m));
        continue;
      }
      if (maps.empty() || colon == std::string::npos) continue;
      auto& c = maps.back().c;
      auto key = line.substr(0, colon);
      std::int64_t v = std::atoll(line.c_str() + colon + 1);
      if (key == "Rss") c.rss_kb = v;
      else if (key == "Pss") c.pss_kb = v;
      else if (key == "Private_Clean") c.private_clean_kb = v;
      else if (key == "Private_Dirty") c.private_dirty_kb = v;
      else if (key == "Anonymous") c.anon_kb = v;
    }
  }
  std::map<std::string, std::string> mapped;  // file name -> path
  for (auto& m : maps) {
    if (!m.path.empty()) {
      mapped.emplace(m.name, m.path);
      m.c.private_dirty_file_kb = std::max<std::int64_t>(0, m.c.private_dirty_kb - m.c.anon_kb);
    }
  }
  char exe[4096];
  ssize_t n = ::readlink((proc + "/exe").c_str(), exe, sizeof exe - 1);
  std::string exe_name = n > 0 ? base_name(std::string(exe, static_cast<std::size_t>(n))) : "";
  // libcurl's dependencies: its DT_NEEDED closure minus the closure of everything else the
  // executable needs (libc, libstdc++, ...).
  std::vector<std::string> own_roots, curl_roots;
  if (auto it = mapped.find(exe_name); it != mapped.end()) {
    for (const auto& need : elf_needed(it->second)) {
      auto name = resolve(need, mapped);
      (is_curl(name) ? curl_roots : own_roots).push_back(name);
    }
  }
  auto own = closure(own_roots, mapped);
  for (const auto& name : closure(curl_roots, mapped)) {
    if (!is_curl(name) && own.count(name) == 0) p.curl_dep_names.insert(name);
  }
  for (const auto& m : maps) {
    p.total.add(m.c);
    p.by_name[m.name].add(m.c);
    if (m.path.empty()) {
      (m.name == "[heap]" ? p.heap : p.other_anon).add(m.c);
    } else if (m.name == exe_name) {
      p.binary.add(m.c);
    } else if (is_curl(m.name)) {
      p.curl.add(m.c);
    } else if (p.curl_dep_names.count(m.name) > 0) {
      p.curl_deps.add(m.c);
    } else if (m.name.rfind("libssl.so", 0) == 0 || m.name.rfind("libcrypto.so", 0) == 0) {
      p.openssl.add(m.c);
    } else {
      p.other_libs.add(m.c);
    }
  }
  return p;
}

std::string top_private(const mem_profile& p, int n) {
  std::vector<std::pair<std::int64_t, std::string>> v;
  for (const auto& [name, c] : p.by_name) {
    if (c.own_kb() > 0) v.emplace_back(c.own_kb(), name);
  }
  std::sort(v.rbegin(), v.rend());
  std::string out;
  for (int i = 0; i < n && i < static_cast<int>(v.size()); ++i) {
    out += (i ? ", " : "") + v[static_cast<std::size_t>(i)].second + " " +
           kib(v[static_cast<std::size_t>(i)].first) + " KiB";
  }
  return out;
}

std::string profile_table(const mem_profile& p) {
  std::ostringstream o;
  o << "| mappings | Rss | PSS | Private_Clean | Private_Dirty | of which Anonymous |\n"
    << "| --- | ---: | ---: | ---: | ---: | ---: |\n";
  auto row = [&](const std::string& label, const mem_counts& c) {
    o << "| " << label << " | " << kib(c.rss_kb) << " | " << kib(c.pss_kb) << " | "
      << kib(c.private_clean_kb) << " | " << kib(c.private_dirty_kb) << " | " << kib(c.anon_kb)
      << " |\n";
  };
  row("the executable", p.binary);
  row("libcurl.so", p.curl);
  row("libcurl's dependencies (" + std::to_string(p.curl_dep_names.size()) + " libraries)",
      p.curl_deps);
  if (p.openssl.mappings > 0) {
    row("OpenSSL (libssl, libcrypto: the executable's own TLS and libcurl's)", p.openssl);
  }
  row("other shared libraries (libc, libstdc++, spdlog, fmt, simdjson, ...)", p.other_libs);
  row("[heap] (main malloc arena)", p.heap);
  row("other anonymous (thread stacks, other malloc arenas, .bss, [stack])", p.other_anon);
  row("**total**", p.total);
  return o.str();
}

mem_sampler::mem_sampler(int pid, std::chrono::microseconds every, bool profiles)
    : pid_(pid), every_(every), profiles_(profiles), thread_([this] { run(); }) {}

mem_sampler::~mem_sampler() { stop(); }

void mem_sampler::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void mem_sampler::run() {
  using clock = std::chrono::steady_clock;
  std::string path = "/proc/" + std::to_string(pid_) + "/status";
  std::int64_t profiled_anon = 0;
  auto last_profile = clock::now() - std::chrono::seconds(1);
  char buf[4096];
  while (!stop_) {
    // Plain read(2) of the small status file: cheap enough to run every millisecond.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    std::int64_t anon = 0, rss = 0;
    if (const char* a = std::strstr(buf, "RssAnon:")) anon = std::atoll(a + 8);
    if (const char* r = std::strstr(buf, "VmRSS:")) rss = std::atoll(r + 6);
    ++samples_;
    peak_rss_kb_ = std::max(peak_rss_kb_, rss);
    peak_anon_kb_ = std::max(peak_anon_kb_, anon);
    if (profiles_ && anon > profiled_anon + 16 && clock::now() - last_profile >= std::chrono::milliseconds(25)) {
      try {
        auto prof = read_profile(pid_);
        last_profile = clock::now();
        profiled_anon = prof.total.anon_kb;
        if (prof.total.own_kb() >= peak_profile_.total.own_kb()) peak_profile_ = std::move(prof);
      } catch (const std::exception&) {
        return;  // the process is gone
      }
    }
    std::this_thread::sleep_for(every_);
  }
}

}  // namespace pdl::bench
