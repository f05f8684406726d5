#include "node/config_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "node/options.h"

namespace pekonode::node {
namespace {

const std::vector<flag_spec> specs = {
  {"name", flag_kind::string},       {"bind", flag_kind::string},
  {"join", flag_kind::string_list},  {"tags", flag_kind::string_map},
  {"fault_injection", flag_kind::boolean},
  {"threads", flag_kind::int32},     {"seed", flag_kind::uint64},
  {"max_log_size", flag_kind::uint32}, {"offset", flag_kind::int64},
  {"ratio", flag_kind::floating},
  {"event_handler", flag_kind::line_list},
};

std::string parse(const std::string& text, flag_values& out) {
  return parse_config(text, specs, out);
}

std::string parse_error(const std::string& text) {
  flag_values out;
  return parse(text, out);
}

TEST(ConfigFile, NaturalJsonTypesBecomeFlagText) {
  flag_values v;
  ASSERT_EQ(parse(R"({"name": "a", "bind": "10.0.0.5:7946",
                      "join": ["127.0.0.1:7946", "seed.example:7946"],
                      "tags": {"role": "web", "rack": 7, "ssd": true},
                      "fault_injection": true, "threads": 4,
                      "seed": 18446744073709551615, "ratio": 0.25,
                      "offset": -5})",
                  v),
            "");
  EXPECT_EQ(v["name"], "a");
  EXPECT_EQ(v["bind"], "10.0.0.5:7946");
  EXPECT_EQ(v["join"], "127.0.0.1:7946,seed.example:7946");
  EXPECT_EQ(v["tags"], "rack=7,role=web,ssd=true");
  EXPECT_EQ(v["fault_injection"], "true");
  EXPECT_EQ(v["threads"], "4");
  EXPECT_EQ(v["seed"], "18446744073709551615");
  EXPECT_EQ(v["ratio"], "0.25");
  EXPECT_EQ(v["offset"], "-5");
  EXPECT_EQ(v.size(), 9u);
}

TEST(ConfigFile, ListsAndMapsAlsoTakeTheFlagsTextForm) {
  flag_values v;
  ASSERT_EQ(parse(R"({"join": "a:1,b:2", "tags": "role=web,dc=eu\\,1"})", v),
            "");
  EXPECT_EQ(v["join"], "a:1,b:2");
  // Canonical: sorted, escaped; parse_tags reads it back unchanged.
  EXPECT_EQ(v["tags"], "dc=eu\\,1,role=web");
  std::map<std::string, std::string> tags;
  ASSERT_EQ(parse_tags(v["tags"], tags), "");
  EXPECT_EQ(tags.at("dc"), "eu,1");
}

TEST(ConfigFile, TagsWithSeparatorsRoundTrip) {
  std::map<std::string, std::string> in{{"a=b", "c,d\\e"}, {"k", ""}};
  std::map<std::string, std::string> out;
  ASSERT_EQ(parse_tags(format_tags(in), out), "");
  EXPECT_EQ(out, in);
  EXPECT_EQ(format_tags({}), "");
}

TEST(ConfigFile, EmptyObjectSetsNothing) {
  flag_values v{{"stale", "x"}};
  ASSERT_EQ(parse("{}", v), "");
  EXPECT_TRUE(v.empty());
}

TEST(ConfigFile, WrongTypesNameTheKey) {
  EXPECT_EQ(parse_error(R"({"bind": 7946})"),
            "key \"bind\": expected a string, got number");
  EXPECT_EQ(parse_error(R"({"fault_injection": "yes"})"),
            "key \"fault_injection\": expected true or false, got string");
  EXPECT_EQ(parse_error(R"({"threads": "4"})"),
            "key \"threads\": expected an integer, got string");
  EXPECT_EQ(parse_error(R"({"threads": 2.5})"),
            "key \"threads\": expected an integer, got number");
  EXPECT_EQ(parse_error(R"({"ratio": "0.5"})"),
            "key \"ratio\": expected a number, got string");
  EXPECT_EQ(parse_error(R"({"join": {"a": 1}})"),
            "key \"join\": expected an array of strings or a string, got "
            "object");
  EXPECT_EQ(parse_error(R"({"tags": ["role=web"]})"),
            "key \"tags\": expected an object or a \"k=v,...\" string, got "
            "array");
  EXPECT_NE(parse_error(R"({"name": null})").find("null is not a value"),
            std::string::npos);
}

TEST(ConfigFile, IntegersOutOfRangeAreRejected) {
  EXPECT_NE(parse_error(R"({"threads": 2147483648})").find("out of range"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"threads": -2147483649})").find("out of range"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"seed": -1})").find("out of range"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"max_log_size": 4294967296})").find("out of range"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"offset": 9223372036854775808})")
              .find("out of range"),
            std::string::npos);
  flag_values v;
  ASSERT_EQ(parse(R"({"threads": -2147483648, "max_log_size": 4294967295})",
                  v),
            "");
  EXPECT_EQ(v["threads"], "-2147483648");
  EXPECT_EQ(v["max_log_size"], "4294967295");
}

TEST(ConfigFile, LineListsJoinElementsWithNewlines) {
  flag_values v;
  ASSERT_EQ(parse(R"({"event_handler": ["a.sh x,y", "user=b.sh"]})", v), "");
  EXPECT_EQ(v["event_handler"], "a.sh x,y\nuser=b.sh");
  ASSERT_EQ(parse(R"({"event_handler": "c.sh"})", v), "");
  EXPECT_EQ(v["event_handler"], "c.sh");
  EXPECT_NE(parse_error(R"({"event_handler": ["a\nb"]})").find("newline"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"event_handler": [""]})").find("non-empty"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"event_handler": 3})").find("expected an array"),
            std::string::npos);
}

TEST(ConfigFile, ListElementsMustBeCleanStrings) {
  EXPECT_EQ(parse_error(R"({"join": ["a:1", 2]})"),
            "key \"join\": element 2: expected a string, got number");
  EXPECT_NE(parse_error(R"({"join": ["a:1,b:2"]})").find("without ','"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"join": [""]})").find("non-empty"),
            std::string::npos);
  flag_values v;
  ASSERT_EQ(parse(R"({"join": []})", v), "");
  EXPECT_EQ(v["join"], "");
}

TEST(ConfigFile, TagsAreValidatedLikeTheFlag) {
  EXPECT_NE(parse_error(R"({"tags": {"": "v"}})").find("empty tag key"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"tags": {"k": 1.5}})").find("tag \"k\""),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"tags": {"k": {"x": 1}}})").find("got object"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"tags": "role"})").find("has no '=VALUE'"),
            std::string::npos);
  std::string many = "{";
  for (int i = 0; i < 40; ++i)
    many += (i ? "," : "") + std::string{"\"k"} + std::to_string(i) + "\":\"v\"";
  many = R"({"tags": )" + many + "}}";
  EXPECT_NE(parse_error(many).find("too many tags"), std::string::npos);
  std::string ctl = R"({"tags": {"k": "a\u0001b"}})";
  EXPECT_NE(parse_error(ctl), "");
}

TEST(ConfigFile, UnknownReservedAndDuplicateKeysAreRejected) {
  EXPECT_EQ(parse_error(R"({"bnid": "x"})"),
            "unknown key \"bnid\" (keys are flag names without dashes, e.g. "
            "\"bind\")");
  EXPECT_EQ(parse_error(R"({"--bind": "x"})").substr(0, 19),
            "unknown key \"--bind");
  EXPECT_EQ(parse_error(R"({"flagfile": "/etc/x"})"),
            "key \"flagfile\" cannot be set in a config file");
  EXPECT_EQ(parse_error(R"({"config": "/etc/x"})"),
            "key \"config\" cannot be set in a config file");
  EXPECT_EQ(parse_error(R"({"name": "a", "name": "b"})"),
            "duplicate key \"name\"");
  // Nested objects may repeat keys of the top level.
  flag_values v;
  EXPECT_EQ(parse(R"({"name": "a", "tags": {"name": "x"}})", v), "");
}

TEST(ConfigFile, NotAnObjectOrNotJson) {
  EXPECT_EQ(parse_error("[1, 2]"),
            "expected a JSON object keyed by flag names, got array");
  EXPECT_EQ(parse_error("\"bind\""),
            "expected a JSON object keyed by flag names, got string");
  auto err = parse_error("{\"name\": \"a\",\n");
  EXPECT_EQ(err.rfind("invalid JSON: parse error at line 2", 0), 0u) << err;
  EXPECT_EQ(parse_error("").rfind("invalid JSON", 0), 0u);
  EXPECT_EQ(parse_error("{\"name\": \"\xff\"}").rfind("invalid JSON", 0), 0u);
  EXPECT_NE(parse_error(R"({"name": "a\u0000b"})").find("NUL"),
            std::string::npos);
}

std::string temp_path(const std::string& leaf) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string{dir != nullptr ? dir : "/tmp"} + "/" + leaf;
}

TEST(ConfigFile, LoadNamesTheFileInEveryError) {
  flag_values v;
  auto missing = temp_path("does-not-exist.json");
  EXPECT_EQ(load_config_file(missing, specs, v),
            missing + ": No such file or directory");
  auto bad = temp_path("bad.json");
  std::ofstream{bad} << R"({"bind": false})";
  EXPECT_EQ(load_config_file(bad, specs, v),
            bad + ": key \"bind\": expected a string, got boolean");
  auto good = temp_path("good.json");
  std::ofstream{good} << R"({"bind": "127.0.0.1:0"})";
  ASSERT_EQ(load_config_file(good, specs, v), "");
  EXPECT_EQ(v["bind"], "127.0.0.1:0");
  auto big = temp_path("big.json");
  {
    std::ofstream f{big};
    f << "{\"name\": \"" << std::string(max_config_bytes, 'a') << "\"}";
  }
  EXPECT_NE(load_config_file(big, specs, v).find("larger than"),
            std::string::npos);
}

// -- reload planning -----------------------------------------------------------

const std::set<std::string> reloadable = {"tags", "v"};

TEST(ReloadPlan, ChangedReloadableSettingsAreApplied) {
  flag_values running{{"tags", "role=web"}, {"v", "0"}, {"bind", "a:1"}};
  flag_values defaults{{"tags", ""}, {"v", "0"}, {"bind", "0.0.0.0:7946"}};
  flag_values old_file{{"tags", "role=web"}, {"bind", "a:1"}};
  flag_values new_file{{"tags", "role=db"}, {"bind", "a:1"}, {"v", "2"}};
  auto p = plan_reload(running, defaults, {}, old_file, new_file, reloadable);
  ASSERT_EQ(p.apply.size(), 2u);
  EXPECT_EQ(p.apply[0].flag, "tags");
  EXPECT_EQ(p.apply[0].from, "role=web");
  EXPECT_EQ(p.apply[0].to, "role=db");
  EXPECT_EQ(p.apply[1].flag, "v");
  EXPECT_EQ(p.apply[1].to, "2");
  EXPECT_TRUE(p.restart.empty());
  EXPECT_TRUE(p.overridden.empty());
}

TEST(ReloadPlan, OtherChangesNeedARestart) {
  flag_values running{{"bind", "a:1"}, {"name", "n1"}};
  flag_values defaults{{"bind", "0.0.0.0:7946"}, {"name", ""}};
  flag_values old_file{{"bind", "a:1"}, {"name", "n1"}};
  flag_values new_file{{"bind", "a:2"}, {"name", "n1"}};
  auto p = plan_reload(running, defaults, {}, old_file, new_file, reloadable);
  EXPECT_TRUE(p.apply.empty());
  ASSERT_EQ(p.restart.size(), 1u);
  EXPECT_EQ(p.restart[0].flag, "bind");
  EXPECT_EQ(p.restart[0].from, "a:1");
  EXPECT_EQ(p.restart[0].to, "a:2");
}

TEST(ReloadPlan, RemovedKeysFallBackToTheBuiltInDefault) {
  flag_values running{{"tags", "role=web"}, {"v", "2"}};
  flag_values defaults{{"tags", ""}, {"v", "0"}};
  flag_values old_file{{"tags", "role=web"}, {"v", "2"}};
  auto p = plan_reload(running, defaults, {}, old_file, {}, reloadable);
  ASSERT_EQ(p.apply.size(), 2u);
  EXPECT_EQ(p.apply[0].to, "");
  EXPECT_EQ(p.apply[1].to, "0");
}

TEST(ReloadPlan, CommandLineWinsOverTheFile) {
  flag_values running{{"tags", "role=cli"}, {"bind", "c:1"}};
  flag_values defaults{{"tags", ""}, {"bind", "0.0.0.0:7946"}};
  flag_values old_file{{"tags", "role=web"}, {"bind", "a:1"}};
  flag_values new_file{{"tags", "role=db"}, {"bind", "a:1"}};
  auto p = plan_reload(running, defaults, {"tags", "bind"}, old_file,
                       new_file, reloadable);
  EXPECT_TRUE(p.apply.empty());
  EXPECT_TRUE(p.restart.empty());
  ASSERT_EQ(p.overridden.size(), 1u); // bind's file value did not change
  EXPECT_EQ(p.overridden[0].flag, "tags");
}

TEST(ReloadPlan, UnchangedFileIsAnEmptyPlan) {
  flag_values running{{"tags", "role=web"}, {"bind", "a:1"}};
  flag_values file{{"tags", "role=web"}, {"bind", "a:1"}};
  auto p = plan_reload(running, {}, {}, file, file, reloadable);
  EXPECT_TRUE(p.empty());
}

} // namespace
} // namespace pekonode::node
