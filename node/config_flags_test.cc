// The --config file applied to real gflags, and SIGHUP reloads. gflags are
// process-global: each test uses its own flags (defined below; glog's v and
// minloglevel are linked in) so the order of the tests does not matter.

#include "node/config_flags.h"

#include <gflags/gflags.h>
#include <glog/logging.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

DEFINE_string(name, "", "test: a string flag");
DEFINE_string(bind, "0.0.0.0:7946", "test: set on the command line");
DEFINE_string(tags, "", "test: a map flag");
DEFINE_string(join, "", "test: a list flag");
DEFINE_int32(level, 1, "test: a reloadable flag whose apply can fail");
DEFINE_bool(toggle, false, "test: a bool flag");
DEFINE_string(other, "", "test: only set by a config file");
DEFINE_string(event_handler, "", "test: a repeatable flag");

namespace pekonode::node {
namespace {

std::string temp_path(const std::string& leaf) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string{dir != nullptr ? dir : "/tmp"} + "/" + leaf;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream f{path, std::ios::trunc};
  f << text;
}

bool has_line(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find(part) != std::string::npos;
  });
}

std::string dump(const std::vector<std::string>& lines) {
  std::string out;
  for (auto& l : lines)
    out += l + "\n";
  return out;
}

// Parses a command line once for the whole binary: --bind is "given".
void parse_command_line_once() {
  static bool done = false;
  if (done)
    return;
  done = true;
  static char arg0[] = "config_flags_test";
  static char arg1[] = "--bind=10.1.1.1:7000";
  static char* args[] = {arg0, arg1, nullptr};
  int argc = 2;
  char** argv = args;
  gflags::ParseCommandLineFlags(&argc, &argv, false);
}

TEST(ConfigFlags, SpecsFollowGflagsTypesAndTheListTables) {
  auto specs = registered_flag_specs();
  auto kind = [&](const std::string& name) {
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const flag_spec& s) { return s.name == name; });
    EXPECT_NE(it, specs.end()) << name;
    return it == specs.end() ? flag_kind::string : it->kind;
  };
  EXPECT_EQ(kind("tags"), flag_kind::string_map);
  EXPECT_EQ(kind("join"), flag_kind::string_list);
  EXPECT_EQ(kind("event_handler"), flag_kind::line_list);
  EXPECT_EQ(kind("name"), flag_kind::string);
  EXPECT_EQ(kind("toggle"), flag_kind::boolean);
  EXPECT_EQ(kind("v"), flag_kind::int32);          // glog's
  EXPECT_EQ(kind("max_log_size"), flag_kind::uint32);
  for (const auto& s : specs) {
    EXPECT_NE(s.name, "flagfile");
    EXPECT_NE(s.name, "helpxml");
  }
}

TEST(ConfigFlags, FileValuesAreDefaultsAndTheCommandLineWins) {
  parse_command_line_once();
  auto path = temp_path("start.json");
  write(path, R"({"bind": "127.0.0.1:1", "name": "from-file",
                  "tags": {"role": "web"}, "join": ["a:1", "b:2"],
                  "toggle": true})");
  flag_state st;
  ASSERT_EQ(apply_config(path, st), "");
  EXPECT_EQ(FLAGS_bind, "10.1.1.1:7000");
  EXPECT_EQ(FLAGS_name, "from-file");
  EXPECT_EQ(FLAGS_tags, "role=web");
  EXPECT_EQ(FLAGS_join, "a:1,b:2");
  EXPECT_TRUE(FLAGS_toggle);
  EXPECT_EQ(st.command_line.count("bind"), 1u);
  EXPECT_EQ(st.command_line.count("name"), 0u);
  EXPECT_EQ(st.builtin_defaults.at("name"), "");
  EXPECT_EQ(st.running.at("name"), "from-file");
  // The file's values became the defaults: --help shows them.
  gflags::CommandLineFlagInfo info;
  ASSERT_TRUE(gflags::GetCommandLineFlagInfo("name", &info));
  EXPECT_EQ(info.default_value, "from-file");

  // SIGHUP with a changed file: tags and v apply, name needs a restart, the
  // bind change is ignored (the command line set it).
  config_reloader r{st};
  add_log_level_settings(r);
  std::string applied_tags;
  r.add("tags", [&](const std::string& v) {
    applied_tags = v;
    return std::string{};
  });
  write(path, R"({"bind": "127.0.0.1:2", "name": "renamed",
                  "tags": {"role": "db", "zone": "b"}, "v": 2,
                  "join": ["a:1", "b:2"], "toggle": true})");
  auto lines = r.reload();
  EXPECT_EQ(applied_tags, "role=db,zone=b");
  EXPECT_EQ(FLAGS_tags, "role=db,zone=b");
  EXPECT_EQ(FLAGS_v, 2);
  EXPECT_EQ(FLAGS_name, "from-file");
  EXPECT_TRUE(has_line(lines, "applied tags: \"role=web\" -> \"role=db,zone=b\""))
    << dump(lines);
  EXPECT_TRUE(has_line(lines, "applied v: \"0\" -> \"2\"")) << dump(lines);
  EXPECT_TRUE(has_line(lines, "name changed \"from-file\" -> \"renamed\": "
                              "needs a restart"))
    << dump(lines);
  EXPECT_TRUE(has_line(lines, "bind changed in the file but is set on the "
                              "command line: ignored"))
    << dump(lines);
  EXPECT_TRUE(has_line(lines, "2 applied, 1 need a restart")) << dump(lines);

  // A broken file changes nothing and keeps the node running.
  write(path, R"({"v": "loud"})");
  lines = r.reload();
  EXPECT_TRUE(has_line(lines, "expected an integer")) << dump(lines);
  EXPECT_TRUE(has_line(lines, "nothing changed")) << dump(lines);
  EXPECT_EQ(FLAGS_v, 2);

  // Keys removed from the file fall back to the built-in defaults.
  write(path, R"({"bind": "127.0.0.1:2", "name": "from-file",
                  "join": ["a:1", "b:2"], "toggle": true})");
  lines = r.reload();
  EXPECT_EQ(applied_tags, "");
  EXPECT_EQ(FLAGS_v, 0);
  EXPECT_TRUE(has_line(lines, "2 applied, 0 need a restart")) << dump(lines);

  // The same file again: nothing to do.
  lines = r.reload();
  EXPECT_TRUE(has_line(lines, ": nothing changed")) << dump(lines);
}

TEST(ConfigFlags, FailedApplyKeepsTheOldValueAndIsRetried) {
  auto path = temp_path("level.json");
  write(path, R"({"level": 3})");
  flag_state st;
  ASSERT_EQ(apply_config(path, st), "");
  EXPECT_EQ(FLAGS_level, 3);
  config_reloader r{st};
  bool accept = false;
  r.add("level", [&](const std::string& v) {
    return accept ? std::string{} : "node busy (wanted " + v + ")";
  });
  write(path, R"({"level": 4})");
  auto lines = r.reload();
  EXPECT_TRUE(has_line(lines, "level not applied (node busy (wanted 4)); "
                              "still \"3\""))
    << dump(lines);
  EXPECT_EQ(FLAGS_level, 3);
  accept = true;
  lines = r.reload();
  EXPECT_TRUE(has_line(lines, "applied level: \"3\" -> \"4\"")) << dump(lines);
  EXPECT_EQ(FLAGS_level, 4);
}

TEST(ConfigFlags, MinLogLevelIsBounded) {
  auto path = temp_path("minlog.json");
  write(path, R"({"other": "x"})");
  flag_state st;
  ASSERT_EQ(apply_config(path, st), "");
  config_reloader r{st};
  add_log_level_settings(r);
  write(path, R"({"other": "x", "minloglevel": 7})");
  auto lines = r.reload();
  EXPECT_TRUE(has_line(lines, "minloglevel not applied")) << dump(lines);
  EXPECT_EQ(FLAGS_minloglevel, 0);
  write(path, R"({"other": "x", "minloglevel": 1})");
  lines = r.reload();
  EXPECT_EQ(FLAGS_minloglevel, 1);
  FLAGS_minloglevel = 0;
}

TEST(ConfigFlags, StartUpErrorsAreOneLineNamingTheFile) {
  auto path = temp_path("unknown.json");
  write(path, R"({"nosuchflag": 1})");
  flag_state st;
  EXPECT_EQ(apply_config(path, st),
            "--config: " + path + ": unknown key \"nosuchflag\" (keys are "
            "flag names without dashes, e.g. \"bind\")");
  EXPECT_EQ(apply_config(temp_path("missing.json"), st),
            "--config: " + temp_path("missing.json")
              + ": No such file or directory");
}

TEST(ConfigFlags, WithoutAConfigFileReloadChangesNothing) {
  flag_state st;
  ASSERT_EQ(apply_config("", st), "");
  config_reloader r{st};
  add_log_level_settings(r);
  auto lines = r.reload();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "reload: no --config file; nothing to reload");
}

} // namespace
} // namespace pekonode::node
