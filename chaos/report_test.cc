// Structure of the plotted chaos report: well-formed XML/SVG, self-contained,
// fault intervals drawn and listed, text escaped, numbers always finite and
// plain, bounded size at large N.
#include "chaos/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pekonode::chaos {
namespace {

// -- a small well-formedness checker --------------------------------------------

bool name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool name_char(char c) {
  return name_start(c) || std::isdigit(static_cast<unsigned char>(c))
         || c == '-' || c == '.';
}

// Whether `s` at `i` starts a valid entity reference; advances past it.
bool entity(std::string_view s, std::size_t& i) {
  auto end = s.find(';', i);
  if (end == std::string_view::npos || end - i > 12) return false;
  auto body = s.substr(i + 1, end - i - 1);
  bool ok = false;
  if (body == "amp" || body == "lt" || body == "gt" || body == "quot"
      || body == "apos") {
    ok = true;
  } else if (body.size() > 1 && body[0] == '#') {
    bool hex = body[1] == 'x';
    auto digits = body.substr(hex ? 2 : 1);
    ok = !digits.empty();
    for (char c : digits)
      ok &= hex ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                : std::isdigit(static_cast<unsigned char>(c)) != 0;
  }
  if (ok) i = end + 1;
  return ok;
}

// "" when `doc` is well-formed XML: an optional prolog (declaration,
// doctype, comments), one root element, tags nested and closed, attributes
// quoted and unique without '<', no raw '&' or '<' in text; else why not.
std::string xml_problem(std::string_view doc) {
  std::vector<std::string> stack;
  bool root_seen = false;
  std::size_t i = 0;
  auto at = [&](std::string_view p) { return doc.substr(i, p.size()) == p; };
  while (i < doc.size()) {
    char c = doc[i];
    if (c != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(c)))
        return "text outside the root at " + std::to_string(i);
      if (c == '&') {
        if (!entity(doc, i)) return "bad entity at " + std::to_string(i);
        continue;
      }
      if (c == '>' && i >= 2 && doc.substr(i - 2, 3) == "]]>")
        return "]]> in text at " + std::to_string(i);
      ++i;
      continue;
    }
    if (at("<?")) {
      auto e = doc.find("?>", i);
      if (e == std::string_view::npos) return "unclosed <?";
      i = e + 2;
      continue;
    }
    if (at("<!--")) {
      auto e = doc.find("-->", i + 4);
      if (e == std::string_view::npos) return "unclosed comment";
      i = e + 3;
      continue;
    }
    if (at("<!DOCTYPE")) {
      if (root_seen) return "doctype after the root";
      auto e = doc.find('>', i);
      if (e == std::string_view::npos) return "unclosed doctype";
      i = e + 1;
      continue;
    }
    if (at("</")) {
      i += 2;
      auto start = i;
      while (i < doc.size() && name_char(doc[i])) ++i;
      std::string name(doc.substr(start, i - start));
      while (i < doc.size() && std::isspace(static_cast<unsigned char>(doc[i]))) ++i;
      if (i >= doc.size() || doc[i] != '>') return "bad end tag " + name;
      ++i;
      if (stack.empty() || stack.back() != name)
        return "end tag </" + name + "> does not match <"
               + (stack.empty() ? "" : stack.back()) + ">";
      stack.pop_back();
      continue;
    }
    // Start tag.
    ++i;
    if (i >= doc.size() || !name_start(doc[i]))
      return "bad tag name at " + std::to_string(i);
    auto start = i;
    while (i < doc.size() && name_char(doc[i])) ++i;
    std::string name(doc.substr(start, i - start));
    if (stack.empty() && root_seen) return "second root element <" + name + ">";
    std::set<std::string> attrs;
    for (;;) {
      bool space = false;
      while (i < doc.size() && std::isspace(static_cast<unsigned char>(doc[i]))) {
        ++i;
        space = true;
      }
      if (i >= doc.size()) return "unclosed tag <" + name + ">";
      if (at("/>")) {
        i += 2;
        if (stack.empty()) root_seen = true;
        break;
      }
      if (doc[i] == '>') {
        ++i;
        stack.push_back(name);
        root_seen = true;
        break;
      }
      if (!space || !name_start(doc[i]))
        return "bad attribute in <" + name + "> at " + std::to_string(i);
      auto a0 = i;
      while (i < doc.size() && name_char(doc[i])) ++i;
      std::string attr(doc.substr(a0, i - a0));
      if (!attrs.insert(attr).second)
        return "attribute " + attr + " twice in <" + name + ">";
      if (i >= doc.size() || doc[i] != '=')
        return "attribute " + attr + " without '=' in <" + name + ">";
      ++i;
      if (i >= doc.size() || (doc[i] != '"' && doc[i] != '\''))
        return "unquoted attribute " + attr + " in <" + name + ">";
      char q = doc[i++];
      while (i < doc.size() && doc[i] != q) {
        if (doc[i] == '<') return "'<' in attribute " + attr;
        if (doc[i] == '&') {
          if (!entity(doc, i)) return "bad entity in attribute " + attr;
          continue;
        }
        ++i;
      }
      if (i >= doc.size()) return "unterminated attribute " + attr;
      ++i;
    }
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (!root_seen) return "no root element";
  return {};
}

TEST(XmlChecker, RejectsMalformedDocuments) {
  EXPECT_EQ(xml_problem("<a><b x=\"1\"/>t &amp; u</a>"), "");
  EXPECT_EQ(xml_problem("<?xml version=\"1.0\"?>\n<!DOCTYPE html>\n<a/>"), "");
  EXPECT_NE(xml_problem("<a><b></a>"), "");
  EXPECT_NE(xml_problem("<a>x & y</a>"), "");
  EXPECT_NE(xml_problem("<a>&nbsp;</a>"), "");
  EXPECT_NE(xml_problem("<a x=1/>"), "");
  EXPECT_NE(xml_problem("<a x=\"<\"/>"), "");
  EXPECT_NE(xml_problem("<a x=\"1\" x=\"2\"/>"), "");
  EXPECT_NE(xml_problem("<a/><b/>"), "");
  EXPECT_NE(xml_problem("<a>"), "");
  EXPECT_NE(xml_problem("<a>1 < 2</a>"), "");
  EXPECT_NE(xml_problem("text<a/>"), "");
}

// -- fixtures ---------------------------------------------------------------------

// A label carrying everything markup must not see raw.
const std::string nasty = "cut n1<->n2 & \"n3\" 'n4' </svg><script>";

// A hand-made run: 4 nodes, 20 s sampled every 0.5 s, a partition from 2.5
// to 7 s, a crash of n3 from 4 s on, a stall, a settle mark, writes; some
// series carry NaN and infinities.
report_run sample_run() {
  report_run run;
  auto& r = run.verdict;
  r.scenario = "partition_<test>";
  r.seed = 42;
  r.nodes = 4;
  r.duration_s = 20;
  r.mem_converge_s = 3.5;
  r.md_converge_s = 1.0;
  r.mem_final_ok = r.md_final_ok = true;
  r.failures.push_back("failure with <markup> & \"quotes\"");
  run.engine = "cores";
  run.description = "a description with <b>tags</b> & ampersands";
  run.reproduce = "chaos --scenario=partition_<test> --nodes=4 --seed=42";
  run.timeline = {"[   0.000s] scenario <x> & y", "[   2.500s] " + nasty};
  auto& t = run.trace;
  t.nodes = 4;
  t.nodes_per_lane = 1;
  t.lanes = 4;
  for (int k = 1; k <= 40; ++k) {
    double ts = 0.5 * k;
    t.t_s.push_back(ts);
    for (std::size_t l = 0; l < 4; ++l) {
      bool cut = ts >= 2.5 && ts < 7;
      uint64_t alive = cut ? 2 : 4, dead = cut ? 2 : 0;
      t.views.push_back(to_shares({alive, 0, dead, 0, 0}));
      t.truth.push_back(to_shares({l == 3 && ts >= 4 ? 0u : 1u, 0,
                                   l == 3 && ts >= 4 ? 1u : 0u, 0, 0}));
    }
    t.mem_agree.push_back(k == 7 ? std::nan("") : (ts >= 2.5 && ts < 7 ? 0.0 : 1.0));
    t.md_agree.push_back(k == 8 ? std::numeric_limits<double>::infinity() : 1.0);
    t.mem_bps_mean.push_back(k == 9 ? -std::numeric_limits<double>::infinity() : 180);
    t.md_bps_mean.push_back(100);
    t.mem_bps_max.push_back(k == 10 ? std::numeric_limits<double>::infinity() : 900);
    t.md_bps_max.push_back(k == 11 ? std::nan("") : 4000);
  }
  t.faults.push_back({fault_span::kind::partition, 2.5, 7, nasty, no_node});
  t.faults.push_back({fault_span::kind::crash, 4, 20, "crash n3", 3});
  t.faults.push_back({fault_span::kind::stall, 9, 11.3, "stall n1", 1});
  t.marks.push_back({7, "settle", no_node});
  t.marks.push_back({12, "leave n2", 2});
  t.writes_s = {1, 1.5, 8};
  t.settle_s = 7;
  t.end_s = 20;
  return run;
}

std::size_t count(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// No scripts, no fetches: only in-page links and the SVG namespace name.
void expect_self_contained(const std::string& doc) {
  EXPECT_EQ(doc.find("<script"), std::string::npos);
  EXPECT_EQ(doc.find("<link"), std::string::npos);
  EXPECT_EQ(doc.find("<img"), std::string::npos);
  EXPECT_EQ(doc.find("src="), std::string::npos);
  EXPECT_EQ(doc.find("url("), std::string::npos);
  EXPECT_EQ(doc.find("@import"), std::string::npos);
  for (auto p = doc.find("href=\""); p != std::string::npos;
       p = doc.find("href=\"", p + 1))
    EXPECT_EQ(doc[p + 6], '#') << doc.substr(p, 40);
  std::size_t urls = 0;
  for (auto p = doc.find("http"); p != std::string::npos; p = doc.find("http", p + 1)) {
    EXPECT_EQ(doc.substr(p, 26), "http://www.w3.org/2000/svg") << doc.substr(p, 60);
    ++urls;
  }
  EXPECT_LE(urls, 1u);
}

// -- escaping and numbers ---------------------------------------------------------

TEST(XmlEscape, EscapesMarkupAndDropsWhatXmlCannotCarry) {
  EXPECT_EQ(xml_escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
  EXPECT_EQ(xml_escape(std::string("x\x01y\x7fz\tw\n", 8)), "x?y?z\tw\n");
  EXPECT_EQ(xml_escape(std::string("nul\0!", 5)), "nul?!");
  // Valid UTF-8 stays; broken sequences, overlongs and surrogates do not.
  EXPECT_EQ(xml_escape("\xc3\xa9t\xc3\xa9 \xe2\x86\x92"), "\xc3\xa9t\xc3\xa9 \xe2\x86\x92");
  EXPECT_EQ(xml_escape("\xc3"), "?");
  EXPECT_EQ(xml_escape("\xff\xfe"), "??");
  EXPECT_EQ(xml_escape("\xc0\xaf"), "??");
  EXPECT_EQ(xml_escape("\xed\xa0\x80"), "???");
  EXPECT_EQ(xml_problem("<a t=\"" + xml_escape(nasty) + "\">" + xml_escape(nasty) + "</a>"), "");
}

TEST(SvgNumber, AlwaysFinitePlainDecimals) {
  EXPECT_EQ(svg_number(12.0), "12");
  EXPECT_EQ(svg_number(12.34), "12.3");
  EXPECT_EQ(svg_number(0.25, 2), "0.25");
  EXPECT_EQ(svg_number(-0.04), "0");
  EXPECT_EQ(svg_number(std::nan("")), "0");
  EXPECT_EQ(svg_number(std::numeric_limits<double>::infinity()), "0");
  EXPECT_EQ(svg_number(-std::numeric_limits<double>::infinity()), "0");
  EXPECT_EQ(svg_number(1e300), "1000000000000000");
  EXPECT_EQ(svg_number(3.14159, 99), "3.14159");
}

TEST(ReportFormat, FollowsTheExtension) {
  EXPECT_EQ(report_format_for("a/b/run.html"), report_format::html);
  EXPECT_EQ(report_format_for("RUN.HTM"), report_format::html);
  EXPECT_EQ(report_format_for("x.svg"), report_format::svg);
  EXPECT_EQ(report_format_for("x.png"), std::nullopt);
  EXPECT_EQ(report_format_for("html"), std::nullopt);
  EXPECT_EQ(report_format_for(""), std::nullopt);
}

// -- documents --------------------------------------------------------------------

TEST(HtmlReport, IsWellFormedAndSelfContained) {
  auto html = render_html({sample_run(), sample_run()}, "title <&>");
  EXPECT_EQ(xml_problem(html), "");
  expect_self_contained(html);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<svg"), 2u);
  EXPECT_NE(html.find("<title>title &lt;&amp;&gt;</title>"), std::string::npos);
  // Anchors from the verdict table to each run.
  EXPECT_NE(html.find("href=\"#run-1\""), std::string::npos);
  EXPECT_NE(html.find("id=\"run-1\""), std::string::npos);
}

TEST(SvgReport, IsWellFormedAndSelfContained) {
  auto svg = render_svg({sample_run(), sample_run()}, "title <&>");
  EXPECT_EQ(xml_problem(svg), "");
  expect_self_contained(svg);
  EXPECT_EQ(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  // The verdict table closes the image, one text line per run + header.
  EXPECT_EQ(count(svg, "class=\"mono\""), 3u);
  EXPECT_NE(svg.find("partition_&lt;test&gt;"), std::string::npos);
}

TEST(HtmlReport, FaultIntervalsAreShadedLabelledAndListed) {
  auto run = sample_run();
  auto html = render_html({run}, "t");
  auto svg = render_run_svg(run);
  EXPECT_EQ(xml_problem(svg), "");
  // Network-wide faults shade every panel; node faults sit on their lane.
  EXPECT_EQ(count(svg, "class=\"sh k0\""), 1u);
  EXPECT_EQ(count(svg, "class=\"nf k4\""), 1u);
  EXPECT_EQ(count(svg, "class=\"nf k5\""), 1u);
  // The band names each interval with its times.
  auto esc = xml_escape(nasty);
  EXPECT_NE(svg.find("<title>" + esc + " (2.5-7 s)</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>crash n3 (4-20 s)</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>stall n1 (9-11.3 s)</title>"), std::string::npos);
  // The page lists them in a table.
  EXPECT_NE(html.find("<tr><td>partition</td><td>2.5</td><td>7</td><td>" + esc
                      + "</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><td>crash</td><td>4</td><td>20</td><td>crash n3</td></tr>"),
            std::string::npos);
  // The shading starts at 2.5 s of 20 s on a 1000 px plot (92 px margin,
  // 894 px wide): x = 92 + 2.5/20 * 894.
  EXPECT_NE(svg.find("<rect x=\"203.8\""), std::string::npos);
}

TEST(HtmlReport, EscapesEveryTextAndKeepsNumbersFinite) {
  auto html = render_html({sample_run()}, "t");
  EXPECT_EQ(html.find(nasty), std::string::npos);
  EXPECT_EQ(html.find("<b>tags</b>"), std::string::npos);
  EXPECT_NE(html.find("a description with &lt;b&gt;tags&lt;/b&gt; &amp; ampersands"),
            std::string::npos);
  EXPECT_NE(html.find("<li>failure with &lt;markup&gt; &amp; &quot;quotes&quot;</li>"),
            std::string::npos);
  EXPECT_NE(html.find("[   2.500s] " + xml_escape(nasty)), std::string::npos);
  for (auto* bad : {"nan", "NaN", "inf", "e+", "e-0"})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  EXPECT_EQ(count(html, "<script"), 0u);
}

TEST(HtmlReport, VerdictTableShowsFigures) {
  auto run = sample_run();
  run.verdict.false_positives = 7;
  auto html = render_html({run}, "t");
  EXPECT_NE(html.find("<td>3.5s</td><td>3.5</td><td>1s</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>7</td><td>0</td><td>0</td><td class=\"FAIL\">FAIL</td>"),
            std::string::npos);
  EXPECT_NE(html.find("1 run(s): 0 passed, 1 failed"), std::string::npos);
}

TEST(HtmlReport, EmptyRunsStayWellFormed) {
  report_run empty;
  empty.verdict.scenario = "empty";
  EXPECT_EQ(xml_problem(render_html({empty}, "t")), "");
  EXPECT_EQ(xml_problem(render_svg({empty}, "t")), "");
  EXPECT_EQ(xml_problem(render_html({}, "no runs")), "");
  EXPECT_EQ(xml_problem(render_svg({}, "no runs")), "");
}

// At N = 1000 lanes group nodes; the document stays well-formed and small
// even when every lane changes at every sample.
TEST(HtmlReport, LargeClusterStaysBounded) {
  run_trace t;
  trace_recorder rec(t, 1000, 60, 0.5);
  EXPECT_EQ(t.lanes, 59u);
  EXPECT_EQ(t.nodes_per_lane, 17u);
  EXPECT_EQ(t.lane_label(0), "n0-n16");
  EXPECT_EQ(t.lane_label(58), "n986-n999");
  report_run run;
  run.verdict.scenario = "big";
  run.verdict.nodes = 1000;
  run.trace = t;
  auto& tr = run.trace;
  for (int k = 0; k < 600; ++k) {
    tr.t_s.push_back(0.5 * (k + 1));
    for (std::size_t l = 0; l < tr.lanes; ++l) {
      uint64_t a = (k * 7 + l * 13) % 17;
      tr.views.push_back(to_shares({a, 17 - a, l % 3, 1, 0}));
      tr.truth.push_back(to_shares({16, a % 2, 0, 0, 1}));
    }
    tr.mem_agree.push_back((k % 10) / 10.0);
    tr.md_agree.push_back(1);
    tr.mem_bps_mean.push_back(100 + k);
    tr.md_bps_mean.push_back(50 + k % 7);
    tr.mem_bps_max.push_back(1000 + k);
    tr.md_bps_max.push_back(500);
  }
  tr.end_s = 300;
  auto html = render_html({run}, "big");
  EXPECT_EQ(xml_problem(html), "");
  EXPECT_LT(html.size(), 2u << 20);
  // Every 9 px at least one lane label: with 6 px lanes, every second.
  EXPECT_NE(html.find(">n986-n999<"), std::string::npos);
  EXPECT_EQ(html.find(">n969-n985<"), std::string::npos);
}

TEST(LaneShares, CloseTheStack) {
  EXPECT_EQ(to_shares({0, 0, 0, 0, 0}), (lane_shares{0, 0, 0, 0, 0}));
  EXPECT_EQ(to_shares({1, 1, 1, 0, 0}), (lane_shares{85, 170, 255, 255, 255}));
  EXPECT_EQ(to_shares({0, 0, 0, 0, 3}), (lane_shares{0, 0, 0, 0, 255}));
  uint64_t big = uint64_t{1} << 50;
  EXPECT_EQ(to_shares({big, big, 0, 0, 0}), (lane_shares{128, 255, 255, 255, 255}));
}

} // namespace
} // namespace pekonode::chaos
