#include "tests/fakes/data_source/source_options.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pdl::fakes {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

std::size_t parse_count(const std::string& flag, const std::string& text, std::size_t max) {
  std::size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text[0] == '-' || n > max) {
    throw std::invalid_argument(flag + ": expected an integer 0.." + std::to_string(max) +
                                ", got '" + text + "'");
  }
  return static_cast<std::size_t>(n);
}

void check_path(const std::string& flag, const std::string& path) {
  if (path.empty() || path.front() != '/') {
    throw std::invalid_argument(flag + ": path must start with '/', got '" + path + "'");
  }
}

std::string read_route_file(const std::string& path, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::invalid_argument("--route " + path + ": cannot read file '" + file + "'");
  }
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(in.tellg());
  if (size > max_route_file_bytes) {
    throw std::invalid_argument("--route " + path + ": file '" + file + "' is larger than " +
                                std::to_string(max_route_file_bytes) + " bytes");
  }
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  return text;
}

}  // namespace

source_options parse_source_args(const std::vector<std::string>& args) {
  source_options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) {
        throw std::invalid_argument(flag + " needs a value");
      }
      return args[++i];
    };
    if (flag == "--addr") {
      o.addr = value();
    } else if (flag == "--port-file") {
      o.port_file = value();
    } else if (flag == "--log-level") {
      o.log_level = value();
    } else if (flag == "--require-header") {
      const std::string& v = value();
      auto colon = v.find(':');
      std::string name = colon == std::string::npos ? std::string() : trim(v.substr(0, colon));
      if (name.empty()) {
        throw std::invalid_argument("--require-header: expected \"NAME: VALUE\" (value not shown)");
      }
      o.require = required_header{name, secret(trim(std::string_view(v).substr(colon + 1)))};
    } else if (flag == "--route") {
      const std::string& v = value();
      auto eq = v.find('=');
      if (eq == std::string::npos) {
        throw std::invalid_argument("--route: expected /path=JSON or /path=@FILE, got '" + v + "'");
      }
      std::string path = v.substr(0, eq);
      check_path("--route", path);
      std::string doc = v.substr(eq + 1);
      if (!doc.empty() && doc.front() == '@') {
        doc = read_route_file(path, doc.substr(1));
      }
      if (!nlohmann::json::accept(doc)) {
        throw std::invalid_argument("--route " + path + ": the document is not valid JSON");
      }
      o.routes[path] = std::move(doc);
    } else if (flag == "--status") {
      const std::string& v = value();
      auto eq = v.rfind('=');
      if (eq == std::string::npos) {
        throw std::invalid_argument("--status: expected /path=CODE, got '" + v + "'");
      }
      std::string path = v.substr(0, eq);
      check_path("--status", path);
      auto code = parse_count("--status " + path, v.substr(eq + 1), 599);
      if (code < 100) {
        throw std::invalid_argument("--status " + path + ": status must be 100..599");
      }
      o.statuses[path] = static_cast<int>(code);
    } else if (flag == "--hang") {
      const std::string& path = value();
      check_path("--hang", path);
      o.hangs.insert(path);
    } else if (flag == "--slow-bytes-per-sec") {
      o.bytes_per_sec = parse_count(flag, value(), std::size_t{1} << 40);
    } else {
      throw std::invalid_argument("unknown argument '" + flag + "'");
    }
  }
  return o;
}

}  // namespace pdl::fakes
