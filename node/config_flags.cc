#include "node/config_flags.h"

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <algorithm>

#include "common/text.h"

namespace pekonode::node {

namespace {

flag_kind kind_of(const gflags::CommandLineFlagInfo& info) {
  if (info.type == "bool")
    return flag_kind::boolean;
  if (info.type == "int32")
    return flag_kind::int32;
  if (info.type == "uint32")
    return flag_kind::uint32;
  if (info.type == "int64")
    return flag_kind::int64;
  if (info.type == "uint64")
    return flag_kind::uint64;
  if (info.type == "double")
    return flag_kind::floating;
  if (list_flags().count(info.name) != 0)
    return flag_kind::string_list;
  if (map_flags().count(info.name) != 0)
    return flag_kind::string_map;
  if (line_list_flags().count(info.name) != 0)
    return flag_kind::line_list;
  return flag_kind::string;
}

flag_values current_values() {
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  flag_values out;
  for (const auto& f : all)
    out.emplace(f.name, f.current_value);
  return out;
}

} // namespace

std::vector<flag_spec> registered_flag_specs() {
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  std::vector<flag_spec> out;
  for (const auto& f : all)
    if (!reserved_key(f.name))
      out.push_back({f.name, kind_of(f)});
  return out;
}

std::string apply_config(const std::string& config_path, flag_state& state) {
  state = flag_state{};
  state.config_path = config_path;
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  for (const auto& f : all) {
    state.builtin_defaults.emplace(f.name, f.default_value);
    if (!f.is_default)
      state.command_line.insert(f.name);
  }
  if (!config_path.empty()) {
    auto err = load_config_file(config_path, registered_flag_specs(),
                                state.file);
    if (!err.empty())
      return "--config: " + err;
    for (const auto& [flag, value] : state.file) {
      if (state.command_line.count(flag) != 0)
        continue;
      auto r = gflags::SetCommandLineOptionWithMode(flag.c_str(),
                                                    value.c_str(),
                                                    gflags::SET_FLAGS_DEFAULT);
      if (r.empty())
        return "--config: " + escape(config_path) + ": key " + quote(flag)
               + ": value " + quote(value, 64) + " rejected by the flag";
    }
  }
  state.running = current_values();
  return {};
}

// Changes are measured against the values start-up loaded (state.running),
// not the live flags, which main() may adjust afterwards (e.g. logtostderr).
config_reloader::config_reloader(flag_state state)
  : state_(std::move(state)) {
}

void config_reloader::add(const std::string& flag, apply_fn fn) {
  table_.emplace_back(flag, std::move(fn));
}

std::set<std::string> config_reloader::reloadable() const {
  std::set<std::string> out;
  for (const auto& row : table_)
    out.insert(row.first);
  return out;
}

std::vector<std::string> config_reloader::reload() {
  std::vector<std::string> lines;
  auto info = [&lines](std::string line) {
    LOG(INFO) << line;
    lines.push_back(std::move(line));
  };
  auto warn = [&lines](std::string line) {
    LOG(WARNING) << line;
    lines.push_back(std::move(line));
  };
  if (state_.config_path.empty()) {
    warn("reload: no --config file; nothing to reload");
    return lines;
  }
  flag_values file;
  auto err = load_config_file(state_.config_path, registered_flag_specs(),
                              file);
  if (!err.empty()) {
    warn("reload: " + err + "; nothing changed");
    return lines;
  }
  auto plan = plan_reload(state_.running, state_.builtin_defaults,
                          state_.command_line, state_.file, file,
                          reloadable());
  state_.file = std::move(file);
  auto path = escape(state_.config_path);
  if (plan.empty()) {
    info("reload: " + path + ": nothing changed");
    return lines;
  }
  size_t applied = 0;
  for (const auto& c : plan.apply) {
    auto row = std::find_if(table_.begin(), table_.end(),
                            [&c](const auto& r) { return r.first == c.flag; });
    auto why = row->second(c.to);
    if (!why.empty()) {
      warn("reload: " + c.flag + " not applied (" + why + "); still "
           + quote(c.from));
      continue;
    }
    gflags::SetCommandLineOption(c.flag.c_str(), c.to.c_str());
    state_.running[c.flag] = c.to;
    ++applied;
    info("reload: applied " + c.flag + ": " + quote(c.from) + " -> "
         + quote(c.to));
  }
  for (const auto& c : plan.restart)
    warn("reload: " + c.flag + " changed " + quote(c.from) + " -> "
         + quote(c.to) + ": needs a restart");
  for (const auto& c : plan.overridden)
    warn("reload: " + c.flag + " changed in the file but is set on the "
         "command line: ignored");
  info("reload: " + path + ": " + std::to_string(applied) + " applied, "
       + std::to_string(plan.restart.size()) + " need a restart");
  return lines;
}

void add_log_level_settings(config_reloader& reloader) {
  reloader.add("v", [](const std::string& value) -> std::string {
    if (gflags::SetCommandLineOption("v", value.c_str()).empty())
      return "not an integer";
    return {};
  });
  reloader.add("minloglevel", [](const std::string& value) -> std::string {
    if (value.size() != 1 || value[0] < '0' || value[0] > '3')
      return "must be 0 (INFO) .. 3 (FATAL)";
    gflags::SetCommandLineOption("minloglevel", value.c_str());
    return {};
  });
}

} // namespace pekonode::node
