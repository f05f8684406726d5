#include "node/config_file.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include "common/text.h"
#include "node/options.h"

namespace pekonode::node {

namespace {

using json = nlohmann::json;

std::string key_error(const std::string& key, const std::string& what) {
  return "key " + quote(key, 64) + ": " + what;
}

std::string got(const json& j) {
  return std::string{", got "} + j.type_name();
}

bool has_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

// Integer `j` as int64 / uint64; false if it is not integral or out of range.
bool as_int64(const json& j, int64_t& out) {
  if (j.is_number_unsigned()) {
    auto u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (j.is_number_integer()) {
    out = j.get<int64_t>();
    return true;
  }
  return false;
}

std::string int_value(const std::string& key, const json& j, int64_t lo,
                      int64_t hi, std::string& out) {
  int64_t v = 0;
  if (!j.is_number_integer())
    return key_error(key, "expected an integer" + got(j));
  if (!as_int64(j, v) || v < lo || v > hi)
    return key_error(key, "integer out of range [" + std::to_string(lo) +
                              ", " + std::to_string(hi) + "]");
  out = std::to_string(v);
  return {};
}

std::string uint_value(const std::string& key, const json& j, uint64_t hi,
                       std::string& out) {
  if (!j.is_number_integer())
    return key_error(key, "expected an integer" + got(j));
  if (!j.is_number_unsigned() || j.get<uint64_t>() > hi)
    return key_error(key, "integer out of range [0, " + std::to_string(hi) +
                              "]");
  out = std::to_string(j.get<uint64_t>());
  return {};
}

// Text of a tag value given in an object: strings, integers and booleans.
bool tag_text(const json& j, std::string& out) {
  if (j.is_string())
    out = j.get<std::string>();
  else if (j.is_boolean())
    out = j.get<bool>() ? "true" : "false";
  else if (j.is_number_unsigned())
    out = std::to_string(j.get<uint64_t>());
  else if (j.is_number_integer())
    out = std::to_string(j.get<int64_t>());
  else
    return false;
  return true;
}

std::string value_of(const flag_spec& spec, const json& j, std::string& out) {
  const auto& key = spec.name;
  if (j.is_null())
    return key_error(key, "null is not a value (remove the key to use the "
                          "default)");
  switch (spec.kind) {
    case flag_kind::boolean:
      if (!j.is_boolean())
        return key_error(key, "expected true or false" + got(j));
      out = j.get<bool>() ? "true" : "false";
      return {};
    case flag_kind::int32:
      return int_value(key, j, std::numeric_limits<int32_t>::min(),
                       std::numeric_limits<int32_t>::max(), out);
    case flag_kind::int64:
      return int_value(key, j, std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max(), out);
    case flag_kind::uint32:
      return uint_value(key, j, std::numeric_limits<uint32_t>::max(), out);
    case flag_kind::uint64:
      return uint_value(key, j, std::numeric_limits<uint64_t>::max(), out);
    case flag_kind::floating: {
      if (!j.is_number())
        return key_error(key, "expected a number" + got(j));
      char buf[64];
      // gflags' own text form of a double, so values compare as text.
      std::snprintf(buf, sizeof(buf), "%.17g", j.get<double>());
      out = buf;
      return {};
    }
    case flag_kind::string:
      if (!j.is_string())
        return key_error(key, "expected a string" + got(j));
      out = j.get<std::string>();
      if (has_nul(out))
        return key_error(key, "contains a NUL byte");
      return {};
    case flag_kind::string_list:
    case flag_kind::line_list: {
      // Joined with ',' (a comma list) or '\n' (a repeatable flag's lines).
      const bool lines = spec.kind == flag_kind::line_list;
      const char sep = lines ? '\n' : ',';
      if (j.is_string()) {
        out = j.get<std::string>();
        if (has_nul(out))
          return key_error(key, "contains a NUL byte");
        return {};
      }
      if (!j.is_array())
        return key_error(key, "expected an array of strings or a string" +
                                  got(j));
      out.clear();
      size_t i = 0;
      for (const auto& e : j) {
        ++i;
        auto at = "element " + std::to_string(i);
        if (!e.is_string())
          return key_error(key, at + ": expected a string" + got(e));
        auto s = e.get<std::string>();
        if (s.empty() || s.find(sep) != std::string::npos || has_nul(s))
          return key_error(key, at + (lines ? ": must be non-empty, without a "
                                              "newline or NUL"
                                            : ": must be non-empty, without "
                                              "',' or NUL"));
        if (!out.empty())
          out += sep;
        out += s;
      }
      return {};
    }
    case flag_kind::string_map: {
      std::map<std::string, std::string> tags;
      if (j.is_string()) {
        if (auto err = parse_tags(j.get<std::string>(), tags); !err.empty())
          return key_error(key, err);
      } else if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
          std::string text;
          if (!tag_text(v, text))
            return key_error(key, "tag " + quote(k, 64) +
                                      ": expected a string, integer or "
                                      "boolean" + got(v));
          if (k.empty())
            return key_error(key, "empty tag key");
          tags.emplace(k, std::move(text));
        }
        if (auto err = validate_tags(tags); !err.empty())
          return key_error(key, err);
      } else {
        return key_error(key, "expected an object or a \"k=v,...\" string" +
                                  got(j));
      }
      out = format_tags(tags);
      return {};
    }
  }
  return key_error(key, "unsupported flag type");
}

} // namespace

bool reserved_key(std::string_view name) {
  static const std::set<std::string_view> reserved{
    "config",   "flagfile",  "fromenv",     "tryfromenv",  "undefok",
    "help",     "helpfull",  "helpshort",   "helpon",      "helpmatch",
    "helppackage", "helpxml", "version",    "tab_completion_word",
    "tab_completion_columns",
  };
  return reserved.count(name) != 0;
}

std::string parse_config(std::string_view text,
                         const std::vector<flag_spec>& specs,
                         flag_values& out) {
  // Duplicate top-level keys are an error (JSON parsers keep the last one
  // silently, which hides typos in long files).
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event,
                                   json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty()
        && parsed.is_string() && !seen.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), cb);
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 2, ..."
    std::string what = e.what();
    auto at = what.find("] ");
    return "invalid JSON: "
           + escape(at == std::string::npos ? what : what.substr(at + 2), 200);
  }
  if (!doc.is_object())
    return std::string{"expected a JSON object keyed by flag names, got "}
           + doc.type_name();
  if (!duplicate.empty())
    return "duplicate key " + quote(duplicate, 64);
  std::map<std::string_view, const flag_spec*> by_name;
  for (const auto& s : specs)
    by_name.emplace(s.name, &s);
  flag_values result;
  for (const auto& [key, value] : doc.items()) {
    if (reserved_key(key))
      return "key " + quote(key, 64) + " cannot be set in a config file";
    auto it = by_name.find(key);
    if (it == by_name.end())
      return "unknown key " + quote(key, 64)
             + " (keys are flag names without dashes, e.g. \"bind\")";
    std::string v;
    if (auto err = value_of(*it->second, value, v); !err.empty())
      return err;
    result.emplace(key, std::move(v));
  }
  out = std::move(result);
  return {};
}

std::string load_config_file(const std::string& path,
                             const std::vector<flag_spec>& specs,
                             flag_values& out) {
  auto* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return escape(path) + ": " + std::strerror(errno);
  std::string text;
  char buf[8192];
  size_t n = 0;
  bool too_big = false;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    text.append(buf, n);
    if (text.size() > max_config_bytes) {
      too_big = true;
      break;
    }
  }
  bool read_error = std::ferror(f) != 0;
  int saved = errno;
  std::fclose(f);
  if (read_error)
    return escape(path) + ": " + std::strerror(saved);
  if (too_big)
    return escape(path) + ": larger than "
           + std::to_string(max_config_bytes) + " bytes";
  if (auto err = parse_config(text, specs, out); !err.empty())
    return escape(path) + ": " + err;
  return {};
}

std::string format_tags(const std::map<std::string, std::string>& tags) {
  std::string out;
  auto put = [&out](const std::string& s) {
    for (char c : s) {
      if (c == ',' || c == '=' || c == '\\')
        out += '\\';
      out += c;
    }
  };
  for (const auto& [k, v] : tags) {
    if (!out.empty())
      out += ',';
    put(k);
    out += '=';
    put(v);
  }
  return out;
}

reload_plan plan_reload(const flag_values& running,
                        const flag_values& builtin_defaults,
                        const std::set<std::string>& command_line,
                        const flag_values& old_file,
                        const flag_values& new_file,
                        const std::set<std::string>& reloadable) {
  auto lookup = [](const flag_values& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::string{} : it->second;
  };
  std::set<std::string> named;
  for (const auto& [k, v] : old_file)
    named.insert(k);
  for (const auto& [k, v] : new_file)
    named.insert(k);
  reload_plan plan;
  for (const auto& flag : named) {
    auto in_new = new_file.find(flag);
    if (command_line.count(flag) != 0) {
      auto in_old = old_file.find(flag);
      bool changed = (in_old == old_file.end()) != (in_new == new_file.end())
                     || (in_new != new_file.end()
                         && in_old->second != in_new->second);
      if (changed)
        plan.overridden.push_back(
          {flag, lookup(old_file, flag), lookup(new_file, flag)});
      continue;
    }
    auto next = in_new != new_file.end() ? in_new->second
                                         : lookup(builtin_defaults, flag);
    auto now = lookup(running, flag);
    if (next == now)
      continue;
    auto& list = reloadable.count(flag) != 0 ? plan.apply : plan.restart;
    list.push_back({flag, now, next});
  }
  return plan;
}

} // namespace pekonode::node
