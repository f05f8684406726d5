#include "node/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pekonode::node {

namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string escape_help(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// Sorted by label name; duplicate names are rejected.
bool normalize(const metric_labels& in, metric_labels& out) {
  out = in;
  std::sort(out.begin(), out.end());
  for (size_t i = 0; i < out.size(); ++i) {
    if (!valid_label_name(out[i].first))
      return false;
    if (i > 0 && out[i].first == out[i - 1].first)
      return false;
  }
  return true;
}

} // namespace

bool valid_metric_name(const std::string& name) {
  if (name.empty())
    return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = is_alpha(c) || c == '_' || c == ':' || (i > 0 && is_digit(c));
    if (!ok)
      return false;
  }
  return true;
}

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0)
    return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = is_alpha(c) || c == '_' || (i > 0 && is_digit(c));
    if (!ok)
      return false;
  }
  return true;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_metric_value(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  // Exact integers up to 2^53 print without exponent or decimal point.
  if (std::fabs(value) < 9007199254740992.0 && value == std::floor(value)) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", value);
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  return buf;
}

bool metrics_registry::describe(const std::string& name, metric_kind kind,
                                std::string help) {
  if (!valid_metric_name(name))
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = families_.find(name);
  if (i != families_.end()) {
    if (i->second.kind != kind)
      return false;
    i->second.help = std::move(help);
    return true;
  }
  family f;
  f.kind = kind;
  f.help = std::move(help);
  families_.emplace(name, std::move(f));
  return true;
}

bool metrics_registry::update(const std::string& name,
                              const metric_labels& labels, double value,
                              bool is_add) {
  metric_labels key;
  if (!normalize(labels, key))
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = families_.find(name);
  if (i == families_.end())
    return false;
  auto& fam = i->second;
  if (is_add) {
    if (fam.kind == metric_kind::counter && !(value >= 0))
      return false;
    fam.series[key] += value;
  } else {
    fam.series[key] = value;
  }
  return true;
}

bool metrics_registry::add(const std::string& name,
                           const metric_labels& labels, double delta) {
  return update(name, labels, delta, true);
}

bool metrics_registry::set(const std::string& name,
                           const metric_labels& labels, double value) {
  return update(name, labels, value, false);
}

double metrics_registry::value(const std::string& name,
                               const metric_labels& labels) const {
  metric_labels key;
  if (!normalize(labels, key))
    return 0;
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = families_.find(name);
  if (i == families_.end())
    return 0;
  auto j = i->second.series.find(key);
  return j == i->second.series.end() ? 0 : j->second;
}

std::string metrics_registry::render() const {
  std::string out;
  render_to(out);
  return out;
}

void metrics_registry::render_to(std::string& out) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [name, fam] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += escape_help(fam.help);
    out += "\n# TYPE ";
    out += name;
    out += fam.kind == metric_kind::counter ? " counter\n" : " gauge\n";
    for (auto& [labels, val] : fam.series) {
      out += name;
      if (!labels.empty()) {
        out += '{';
        for (size_t i = 0; i < labels.size(); ++i) {
          if (i > 0)
            out += ',';
          out += labels[i].first;
          out += "=\"";
          out += escape_label_value(labels[i].second);
          out += '"';
        }
        out += '}';
      }
      out += ' ';
      out += format_metric_value(val);
      out += '\n';
    }
  }
}

} // namespace pekonode::node
