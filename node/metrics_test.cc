#include "node/metrics.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "node/exposition_lint.h"

namespace pekonode::node {
namespace {

TEST(MetricsRegistry, RendersHelpTypeAndSortedSeries) {
  metrics_registry reg;
  ASSERT_TRUE(reg.describe("zeta_total", metric_kind::counter, "Z things."));
  ASSERT_TRUE(reg.describe("alpha", metric_kind::gauge, "A level."));
  ASSERT_TRUE(reg.add("zeta_total", {{"reason", "b"}}, 2));
  ASSERT_TRUE(reg.add("zeta_total", {{"reason", "a"}}, 1));
  ASSERT_TRUE(reg.add("zeta_total", {{"reason", "a"}}, 4));
  ASSERT_TRUE(reg.set("alpha", {}, 1.5));
  EXPECT_EQ(reg.render(),
            "# HELP alpha A level.\n"
            "# TYPE alpha gauge\n"
            "alpha 1.5\n"
            "# HELP zeta_total Z things.\n"
            "# TYPE zeta_total counter\n"
            "zeta_total{reason=\"a\"} 5\n"
            "zeta_total{reason=\"b\"} 2\n");
}

TEST(MetricsRegistry, LabelOrderDoesNotMatter) {
  metrics_registry reg;
  ASSERT_TRUE(reg.describe("m", metric_kind::counter, "h"));
  ASSERT_TRUE(reg.add("m", {{"b", "2"}, {"a", "1"}}, 1));
  ASSERT_TRUE(reg.add("m", {{"a", "1"}, {"b", "2"}}, 1));
  EXPECT_EQ(reg.value("m", {{"b", "2"}, {"a", "1"}}), 2);
  EXPECT_NE(reg.render().find("m{a=\"1\",b=\"2\"} 2\n"), std::string::npos);
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  metrics_registry reg;
  ASSERT_TRUE(reg.describe("m", metric_kind::gauge, "line1\nback\\slash"));
  ASSERT_TRUE(reg.set("m", {{"peer", "a\"b\\c\nd"}}, 1));
  auto text = reg.render();
  EXPECT_NE(text.find("# HELP m line1\\nback\\\\slash\n"), std::string::npos)
    << text;
  EXPECT_NE(text.find("m{peer=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
    << text;
}

TEST(MetricsRegistry, RejectsInvalidNamesKindsAndDeltas) {
  metrics_registry reg;
  EXPECT_FALSE(reg.describe("1abc", metric_kind::gauge, ""));
  EXPECT_FALSE(reg.describe("a-b", metric_kind::gauge, ""));
  EXPECT_FALSE(reg.describe("", metric_kind::gauge, ""));
  ASSERT_TRUE(reg.describe("c_total", metric_kind::counter, ""));
  EXPECT_FALSE(reg.describe("c_total", metric_kind::gauge, ""));
  EXPECT_FALSE(reg.add("c_total", {}, -1));
  EXPECT_FALSE(reg.add("c_total", {}, std::nan("")));
  EXPECT_FALSE(reg.add("undeclared", {}, 1));
  EXPECT_FALSE(reg.add("c_total", {{"__reserved", "x"}}, 1));
  EXPECT_FALSE(reg.add("c_total", {{"bad-label", "x"}}, 1));
  EXPECT_FALSE(reg.add("c_total", {{"a", "x"}, {"a", "y"}}, 1));
  EXPECT_EQ(reg.render(), "# HELP c_total \n# TYPE c_total counter\n");
}

TEST(MetricsRegistry, GaugesGoDownCountersCanBeCopied) {
  metrics_registry reg;
  ASSERT_TRUE(reg.describe("g", metric_kind::gauge, "h"));
  ASSERT_TRUE(reg.set("g", {}, 5));
  ASSERT_TRUE(reg.add("g", {}, -7));
  EXPECT_EQ(reg.value("g", {}), -2);
  ASSERT_TRUE(reg.describe("c_total", metric_kind::counter, "h"));
  ASSERT_TRUE(reg.set("c_total", {}, 12345678901.0));
  EXPECT_NE(reg.render().find("c_total 12345678901\n"), std::string::npos);
}

TEST(FormatMetricValue, SpecialValues) {
  EXPECT_EQ(format_metric_value(0), "0");
  EXPECT_EQ(format_metric_value(-3), "-3");
  EXPECT_EQ(format_metric_value(0.25), "0.25");
  EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()),
            "+Inf");
  EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()),
            "-Inf");
  EXPECT_EQ(format_metric_value(1e300), "1.0000000000000001e+300");
}

TEST(ValidNames, MetricAndLabelRules) {
  EXPECT_TRUE(valid_metric_name("pekonode:rate_5m"));
  EXPECT_FALSE(valid_label_name("has:colon"));
  EXPECT_TRUE(valid_label_name("_x1"));
  EXPECT_FALSE(valid_label_name("9x"));
}

// The linter the node's /metrics test relies on finds each broken rule.
TEST(ExpositionLint, FindsEachBrokenRule) {
  using exposition::lint_exposition;
  EXPECT_TRUE(lint_exposition("# HELP a_total A.\n# TYPE a_total counter\n"
                              "a_total{k=\"x\\\"y\\\\z\\n\"} 1\n")
                .empty());
  const char* broken[] = {
    "a 1\n",                                                   // no HELP/TYPE
    "# HELP a A.\n# HELP a A.\n# TYPE a gauge\na 1\n",          // HELP twice
    "# HELP a A.\n# TYPE a gauge\n# TYPE a gauge\na 1\n",       // TYPE twice
    "# HELP a A.\n# TYPE a counter\na 1\n",                     // no _total
    "# HELP 1a A.\n# TYPE 1a gauge\n1a 1\n",                    // bad name
    "# HELP a A.\n# TYPE a gauge\na{1k=\"v\"} 1\n",            // bad label
    "# HELP a A.\n# TYPE a gauge\na{k=\"v\\q\"} 1\n",         // bad escape
    "# HELP a A.\n# TYPE a gauge\na{k=v} 1\n",                  // unquoted
    "# HELP a A.\n# TYPE a gauge\na one\n",                     // bad value
    "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",                  // series twice
    "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\n"
    "a{k=\"1\"} 1\nb 1\na{k=\"2\"} 1\n",                       // not contiguous
    "# HELP a A.\n# TYPE a gauge\na 1",                         // no newline
  };
  for (auto* text : broken)
    EXPECT_FALSE(lint_exposition(text).empty()) << text;
}

// What the registry renders passes the linter, whatever the label values.
TEST(ExpositionLint, RegistryOutputIsClean) {
  metrics_registry reg;
  ASSERT_TRUE(reg.describe("m_total", metric_kind::counter, "with \\ and\nnewline"));
  ASSERT_TRUE(reg.describe("g", metric_kind::gauge, "g"));
  ASSERT_TRUE(reg.add("m_total", {{"k", "quote\" back\\ nl\n"}}, 1));
  ASSERT_TRUE(reg.add("m_total", {{"k", "plain"}}, 1));
  ASSERT_TRUE(reg.set("g", {}, std::numeric_limits<double>::infinity()));
  auto problems = exposition::lint_exposition(reg.render());
  EXPECT_TRUE(problems.empty()) << problems.front();
}

} // namespace
} // namespace pekonode::node
