#include "bench/driver/bench_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pdl::bench {
namespace {

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

/** Reads until the end of the response headers; returns them, leaves extra bytes in @p rest. */
std::string read_head(int fd, std::string& rest) {
  std::string buf;
  char tmp[4096];
  while (true) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      rest = buf.substr(end + 4);
      return buf.substr(0, end + 4);
    }
    ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return {};
    buf.append(tmp, static_cast<std::size_t>(r));
  }
}

int status_of(const std::string& head) {
  // "HTTP/1.1 200 OK"
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return 0;
  return std::atoi(head.c_str() + 9);
}

std::uint64_t content_length(const std::string& head) {
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto p = lower.find("\r\ncontent-length:");
  if (p == std::string::npos) throw std::runtime_error("response without Content-Length");
  return std::stoull(lower.substr(p + 17));
}

int finish_response(int fd) {
  std::string rest;
  return status_of(read_head(fd, rest));
}

}  // namespace

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

mem_status read_mem(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) throw std::runtime_error("process " + std::to_string(pid) + " is gone");
  mem_status m;
  std::string line;
  auto field = [&](const char* name, std::int64_t& out) {
    std::size_t n = std::strlen(name);
    if (line.compare(0, n, name) == 0) out = std::atoll(line.c_str() + n);
  };
  while (std::getline(in, line)) {
    field("VmRSS:", m.rss_kb);
    field("VmHWM:", m.hwm_kb);
    field("RssAnon:", m.anon_kb);
    field("RssFile:", m.file_kb);
    field("Threads:", m.threads);
  }
  return m;
}

double cpu_ms_precise(int pid) {
  namespace fs = std::filesystem;
  std::error_code ec;
  double ns = 0;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    double on_cpu = 0;
    if (in >> on_cpu) ns += on_cpu;
  }
  return ns / 1e6;
}

double cpu_ms(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream ls(stat.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && ls >> field; ++i) {
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  return (utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double machine_busy_ms() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  if (!in || cpu != "cpu") return 0;
  return (user + nice + system + irq + softirq + steal) * 1000.0 /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<write_entry> write_log_reader::read_new() {
  std::vector<write_entry> out;
  out.swap(backlog_);
  std::ifstream in(path_, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  offset_ += chunk.size();
  partial_ += chunk;
  std::size_t start = 0;
  while (true) {
    auto nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    std::istringstream ls(partial_.substr(start, nl - start));
    write_entry e;
    ls >> e.applied_ns >> e.method >> e.path >> e.bytes >> e.status >> e.received_ns;
    if (ls) out.push_back(std::move(e));
    start = nl + 1;
  }
  partial_.erase(0, start);
  return out;
}

write_entry write_log_reader::wait_for(const std::string& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto entries = read_new();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].path == path) {
        // Keep what came after it for the next call.
        backlog_.insert(backlog_.end(), entries.begin() + static_cast<long>(i) + 1, entries.end());
        return entries[i];
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("no write to " + path + " in " + path_ + " within " +
                               std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

int raw_get_status(int port, const std::string& target) {
  fd_guard fd(connect_loopback(port));
  if (fd.get() < 0) return 0;
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  try {
    send_all(fd.get(), req.data(), req.size());
  } catch (const std::exception&) {
    return 0;
  }
  return finish_response(fd.get());
}

int raw_put_file(int port, const std::string& target, const std::string& file) {
  fd_guard in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) throw std::runtime_error("cannot open " + file);
  off_t size = ::lseek(in.get(), 0, SEEK_END);
  ::lseek(in.get(), 0, SEEK_SET);
  fd_guard fd(connect_loopback(port));
  if (fd.get() < 0) throw std::runtime_error("cannot connect to port " + std::to_string(port));
  std::string head = "PUT " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: " + std::to_string(size) + "\r\nConnection: close\r\n\r\n";
  send_all(fd.get(), head.data(), head.size());
  std::vector<char> buf(256 * 1024);
  while (true) {
    ssize_t r = ::read(in.get(), buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error("read " + file);
    if (r == 0) break;
    send_all(fd.get(), buf.data(), static_cast<std::size_t>(r));
  }
  return finish_response(fd.get());
}

std::uint64_t raw_copy(int src_port, const std::string& src_target, int dst_port,
                       const std::string& dst_target) {
  fd_guard src(connect_loopback(src_port));
  if (src.get() < 0) throw std::runtime_error("raw copy: cannot connect to the source");
  std::string get = "GET " + src_target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  send_all(src.get(), get.data(), get.size());
  std::string rest;
  std::string head = read_head(src.get(), rest);
  if (status_of(head) != 200) throw std::runtime_error("raw copy: source answered " + head);
  std::uint64_t total = content_length(head);
  fd_guard dst(connect_loopback(dst_port));
  if (dst.get() < 0) throw std::runtime_error("raw copy: cannot connect to the store");
  std::string put = "PUT " + dst_target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(total) + "\r\nConnection: close\r\n\r\n";
  send_all(dst.get(), put.data(), put.size());
  send_all(dst.get(), rest.data(), rest.size());
  std::uint64_t moved = rest.size();
  std::vector<char> buf(256 * 1024);
  while (moved < total) {
    ssize_t r = ::recv(src.get(), buf.data(), buf.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw std::runtime_error("raw copy: source closed early");
    send_all(dst.get(), buf.data(), static_cast<std::size_t>(r));
    moved += static_cast<std::uint64_t>(r);
  }
  int status = finish_response(dst.get());
  if (status / 100 != 2) throw std::runtime_error("raw copy: store answered " + std::to_string(status));
  return moved;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

std::string num(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::uint64_t generate_json(const std::string& path, std::uint64_t bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  static const char* roles[] = {"admin", "viewer", "editor", "billing", "auditor"};
  std::uint64_t written = 0;
  written += static_cast<std::uint64_t>(std::fprintf(f, "{\"users\":{"));
  char rec[512];
  for (std::uint64_t i = 0; written + 300 < bytes; ++i) {
    int n = std::snprintf(
        rec, sizeof rec,
        "%s\"user-%08llu\":{\"name\":\"User number %llu\",\"role\":\"%s\",\"manager\":%s,"
        "\"groups\":[\"team-%llu\",\"region-%llu\"],\"active\":%s,\"quota\":%llu.%02llu,"
        "\"email\":\"user%llu@example.com\"}",
        i == 0 ? "" : ",", static_cast<unsigned long long>(i), static_cast<unsigned long long>(i),
        roles[i % 5], i % 7 == 0 ? "null" : "\"user-00000001\"",
        static_cast<unsigned long long>(i % 97), static_cast<unsigned long long>(i % 13),
        i % 3 == 0 ? "false" : "true", static_cast<unsigned long long>(i * 37 % 100000),
        static_cast<unsigned long long>(i % 100), static_cast<unsigned long long>(i));
    std::fwrite(rec, 1, static_cast<std::size_t>(n), f);
    written += static_cast<std::uint64_t>(n);
  }
  written += static_cast<std::uint64_t>(std::fprintf(f, "},\"generated_by\":\"pdl bench\"}"));
  std::fclose(f);
  return written;
}

}  // namespace pdl::bench
