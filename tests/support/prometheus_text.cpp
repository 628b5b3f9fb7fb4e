#include "tests/support/prometheus_text.hpp"

#include <cmath>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace pdl::test {
namespace {

const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");

std::string family_of(const std::string& sample, const std::map<std::string, std::string>& types) {
  if (types.count(sample) != 0) return sample;
  for (const char* suffix : {"_bucket", "_sum", "_count", "_total", "_created"}) {
    const std::string s(suffix);
    if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
      auto base = sample.substr(0, sample.size() - s.size());
      if (types.count(base) != 0) return base;
    }
  }
  return "";
}

double parse_value(const std::string& v) {
  if (v == "+Inf") return INFINITY;
  if (v == "-Inf") return -INFINITY;
  if (v == "NaN") return NAN;
  std::size_t used = 0;
  double d = std::stod(v, &used);
  if (used != v.size()) throw std::invalid_argument("bad number");
  return d;
}

}  // namespace

double prom_scrape::value(const std::string& name,
                          const std::map<std::string, std::string>& labels) const {
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) return s.value;
  }
  throw std::out_of_range("no sample " + name);
}

bool prom_scrape::has(const std::string& name) const {
  for (const auto& s : samples) {
    if (s.name == name) return true;
  }
  return false;
}

prom_scrape parse_prometheus_text(const std::string& text) {
  prom_scrape out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("line " + std::to_string(n) + " (" + why + "): " + line);
  };
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      const auto sp = line.find(' ', 7);
      if (sp == std::string::npos || !std::regex_match(line.substr(7, sp - 7), name_re)) fail("HELP");
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream f(line.substr(7));
      std::string name, type, extra;
      f >> name >> type;
      if (!std::regex_match(name, name_re) || (f >> extra) ||
          (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
           type != "untyped")) {
        fail("TYPE");
      }
      if (out.types.count(name) != 0) fail("TYPE twice");
      out.types[name] = type;
      continue;
    }
    if (line[0] == '#') continue;  // a comment
    prom_sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, name_re)) fail("name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const auto eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') fail("label");
        const std::string key = line.substr(i, eq - i);
        if (!std::regex_match(key, name_re)) fail("label name");
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (++j >= line.size()) fail("escape");
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) fail("unterminated label value");
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) fail("unterminated labels");
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') fail("no value");
    std::istringstream rest(line.substr(i + 1));
    std::string value, timestamp, extra;
    rest >> value >> timestamp >> extra;
    if (!extra.empty()) fail("trailing text");
    try {
      s.value = parse_value(value);
    } catch (const std::exception&) {
      fail("value");
    }
    if (family_of(s.name, out.types).empty()) fail("sample before its TYPE");
    out.samples.push_back(std::move(s));
  }
  return out;
}

}  // namespace pdl::test
