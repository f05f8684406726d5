#pragma once
// Test helper: checks Prometheus text exposition (0.0.4) against the rules
// `promtool check metrics` enforces that matter here, without promtool:
// every sample's family has one HELP and one TYPE line, before its samples;
// a family's samples are contiguous; metric and label names are valid;
// label values are quoted with backslash, quote and newline escaped;
// counters end in _total; no series appears twice; values parse.

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "node/metrics.h"

namespace pekonode::node::exposition {

/// The problems found, one line each; empty when `text` is clean.
inline std::vector<std::string> lint_exposition(std::string_view text) {
  std::vector<std::string> bad;
  std::map<std::string, int> help, type;
  std::map<std::string, std::string> kind;
  std::set<std::string> closed; // families whose samples ended
  std::set<std::string> series;
  std::string current;
  size_t line_no = 0;
  size_t pos = 0;
  auto problem = [&](const std::string& what) {
    bad.push_back("line " + std::to_string(line_no) + ": " + what);
  };
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      bad.push_back("text does not end with a newline");
      end = text.size();
    }
    std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty()) {
      problem("empty line");
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      bool is_help = line[2] == 'H';
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      auto name = rest.substr(0, sp);
      if (!valid_metric_name(name))
        problem("bad metric name '" + name + "'");
      if (++(is_help ? help : type)[name] > 1)
        problem(std::string(is_help ? "HELP" : "TYPE") + " twice for " + name);
      if (closed.count(name) || (current == name && !is_help && type[name] == 1
                                 && series.count(name)))
        problem("HELP/TYPE of " + name + " after its samples");
      if (!is_help) {
        auto k = sp == std::string::npos ? "" : rest.substr(sp + 1);
        if (k != "counter" && k != "gauge" && k != "untyped" && k != "summary"
            && k != "histogram")
          problem("bad type '" + k + "' for " + name);
        kind[name] = k;
        if (k == "counter" && (name.size() < 6
                               || name.compare(name.size() - 6, 6, "_total") != 0))
          problem("counter " + name + " does not end in _total");
      }
      continue;
    }
    if (line[0] == '#')
      continue; // a comment
    // A sample: name[{labels}] value
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
      ++i;
    auto name = line.substr(0, i);
    if (!valid_metric_name(name))
      problem("bad metric name '" + name + "'");
    if (!help.count(name) || !type.count(name))
      problem("sample of " + name + " without HELP and TYPE before it");
    if (name != current) {
      if (!current.empty())
        closed.insert(current);
      if (closed.count(name))
        problem("samples of " + name + " are not contiguous");
      current = name;
    }
    std::string labels;
    if (i < line.size() && line[i] == '{') {
      auto start = i;
      ++i;
      while (i < line.size() && line[i] != '}') {
        auto eq = line.find('=', i);
        if (eq == std::string::npos) {
          problem("label without '='");
          break;
        }
        auto lname = line.substr(i, eq - i);
        if (!valid_label_name(lname))
          problem("bad label name '" + lname + "'");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          problem("label value of " + lname + " not quoted");
          break;
        }
        ++i;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size() || (line[i + 1] != '\\' && line[i + 1] != '"'
                                         && line[i + 1] != 'n'))
              problem("bad escape in the value of " + lname);
            i += 2;
            continue;
          }
          ++i;
        }
        if (i >= line.size()) {
          problem("unterminated label value of " + lname);
          break;
        }
        ++i; // closing quote
        if (i < line.size() && line[i] == ',')
          ++i;
      }
      if (i >= line.size()) {
        problem("unterminated label set");
        continue;
      }
      ++i; // '}'
      labels = line.substr(start, i - start);
    }
    if (i >= line.size() || line[i] != ' ') {
      problem("no space before the value of " + name);
      continue;
    }
    auto value = line.substr(i + 1);
    if (value != "NaN" && value != "+Inf" && value != "-Inf") {
      char* endp = nullptr;
      std::strtod(value.c_str(), &endp);
      if (value.empty() || *endp != '\0')
        problem("bad value '" + value + "' of " + name);
    }
    if (!series.insert(name + labels).second)
      problem("series " + name + labels + " twice");
  }
  return bad;
}

} // namespace pekonode::node::exposition
