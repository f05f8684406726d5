#include "chaos/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace pekonode::chaos {

namespace {

constexpr const char* view_names[view_bands] = {"alive", "suspect", "dead",
                                                "left", "not in table"};
constexpr const char* truth_names[truth_bands] = {"up", "stalled", "down",
                                                  "left", "not started"};
constexpr std::size_t fault_kinds = 6;

// Styles of every plot; each <svg> carries them so a run's plot also stands
// alone. Class names: v<band> view bands, t<band> truth bands, k<kind> fault
// kinds.
constexpr const char* svg_style =
  ".rp text{font:11px sans-serif;fill:#222}"
  ".rp .sm{font-size:9px;fill:#555}"
  ".rp .hd{font-size:11px;font-weight:bold;fill:#333}"
  ".rp .ti{font-size:13px;font-weight:bold}"
  ".rp .ok{fill:#2e7d32}.rp .bad{fill:#c62828}"
  ".rp .fr{fill:none;stroke:#999;stroke-width:1}"
  ".rp .gr{stroke:#e6e6e6;stroke-width:1}"
  ".rp .v0{fill:#4caf50}.rp .v1{fill:#f2c12e}.rp .v2{fill:#d64541}"
  ".rp .v3{fill:#4a7fc1}.rp .v4{fill:#e4e4e4}"
  ".rp .t0{fill:#9aa5b1}.rp .t1{fill:#f08c00}.rp .t2{fill:#1b1b1b}"
  ".rp .t3{fill:#4a7fc1}.rp .t4{fill:#ffffff}"
  ".rp .k0{fill:#8e44ad;stroke:#8e44ad}.rp .k1{fill:#e67e22;stroke:#e67e22}"
  ".rp .k2{fill:#c0392b;stroke:#c0392b}.rp .k3{fill:#16a085;stroke:#16a085}"
  ".rp .k4{fill:#333333;stroke:#333333}.rp .k5{fill:#f08c00;stroke:#f08c00}"
  ".rp .sh{stroke:none;opacity:.12}"
  ".rp .fb{fill-opacity:.22;stroke-width:1}"
  ".rp .nf{fill-opacity:.35;stroke-width:1}"
  ".rp .ln{fill:none;stroke-width:1.5}"
  ".rp .mx{stroke-width:1;stroke-dasharray:2 2}"
  ".rp .lm{stroke:#2c6fbb}.rp .ld{stroke:#e67e22}"
  ".rp .wr{stroke:#777;stroke-width:1}"
  ".rp .mk{stroke:#555;stroke-width:1;stroke-dasharray:4 3}"
  ".rp .cv{stroke:#2e7d32;stroke-width:1;stroke-dasharray:4 3}"
  ".rp .nm{fill:#111}"
  ".rp .mono{font:11px monospace;white-space:pre}";

std::string num(double v) { return svg_number(v, 1); }

std::string opt_s(const std::optional<double>& v) {
  if (!v) return "never";
  return svg_number(*v, 1) + "s";
}

/// Appends SVG elements to a string.
class svg_out {
public:
  std::string s;

  void rect(double x, double y, double w, double h, std::string_view cls,
            std::string_view title = {}) {
    s += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\""
         + num(std::max(0.0, w)) + "\" height=\"" + num(std::max(0.0, h))
         + "\"";
    if (!cls.empty()) s += " class=\"" + std::string(cls) + "\"";
    if (title.empty()) {
      s += "/>";
    } else {
      s += "><title>" + xml_escape(title) + "</title></rect>";
    }
  }

  void text(double x, double y, std::string_view txt, std::string_view cls = {},
            std::string_view anchor = {}) {
    s += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"";
    if (!cls.empty()) s += " class=\"" + std::string(cls) + "\"";
    if (!anchor.empty()) s += " text-anchor=\"" + std::string(anchor) + "\"";
    s += ">" + xml_escape(txt) + "</text>";
  }

  void line(double x1, double y1, double x2, double y2, std::string_view cls,
            std::string_view title = {}) {
    s += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2)
         + "\" y2=\"" + num(y2) + "\" class=\"" + std::string(cls) + "\"";
    if (title.empty()) {
      s += "/>";
    } else {
      s += "><title>" + xml_escape(title) + "</title></line>";
    }
  }
};

/// Text that fits `px` pixels at about 6 px per character, or "".
std::string fit(const std::string& label, double px) {
  auto room = static_cast<std::size_t>(std::max(0.0, (px - 4) / 6.0));
  if (label.size() <= room) return label;
  if (room < 4) return {};
  return label.substr(0, room - 2) + "..";
}

/// A round step for axis ticks: about `target` ticks over `span`.
double nice_step(double span, double target) {
  if (!(span > 0)) return 1;
  double raw = span / target;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string bytes_label(double v) {
  if (v >= 1e6) return svg_number(v / 1e6, 0) + "M";
  if (v >= 1e3) return svg_number(v / 1e3, 0) + "k";
  return svg_number(v, 0);
}

/// A fault interval as the band shows it (node faults of one kind are
/// merged into one interval when there are many).
struct band_span {
  fault_span::kind what;
  double start_s, end_s;
  std::string label, title;
};

std::string span_title(const std::string& label, double a, double b) {
  return label + " (" + svg_number(a, 1) + "-" + svg_number(b, 1) + " s)";
}

std::vector<band_span> band_spans(const run_trace& tr) {
  // More intervals of one kind than this (a restart wave, a flapping node)
  // share one band entry; the lanes or the shading still show each.
  constexpr std::size_t max_spans = 6;
  std::vector<band_span> out;
  std::size_t per_kind[2][fault_kinds] = {};
  auto node_fault = [](const fault_span& f) { return f.node != no_node ? 1 : 0; };
  for (auto& f : tr.faults)
    ++per_kind[node_fault(f)][static_cast<std::size_t>(f.what)];
  std::vector<const fault_span*> merged[2][fault_kinds];
  for (auto& f : tr.faults) {
    auto k = static_cast<std::size_t>(f.what);
    if (per_kind[node_fault(f)][k] > max_spans) {
      merged[node_fault(f)][k].push_back(&f);
      continue;
    }
    out.push_back({f.what, f.start_s, f.end_s, f.label,
                   span_title(f.label, f.start_s, f.end_s)});
  }
  for (auto& by_kind : merged) {
    for (std::size_t k = 0; k < fault_kinds; ++k) {
      auto& fs = by_kind[k];
      if (fs.empty()) continue;
      double a = fs.front()->start_s, b = fs.front()->end_s;
      bool same = true;
      for (auto* f : fs) {
        a = std::min(a, f->start_s);
        b = std::max(b, f->end_s);
        same &= f->label == fs.front()->label;
      }
      auto kind = static_cast<fault_span::kind>(k);
      auto label = std::to_string(fs.size()) + " x "
                   + (same ? fs.front()->label : std::string(to_string(kind)));
      if (fs.front()->node != no_node) label += " (on the lanes)";
      out.push_back({kind, a, b, label, span_title(label, a, b)});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](auto& x, auto& y) {
    return x.start_s < y.start_s;
  });
  return out;
}

/// SVG polyline points of (xs, ys), keeping only the ends of constant runs.
std::string polyline(const std::vector<double>& xs,
                     const std::vector<double>& ys) {
  std::string pts;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    bool keep = i == 0 || i + 1 == xs.size() || ys[i] != ys[i - 1]
                || ys[i] != ys[i + 1];
    if (!keep) continue;
    if (!pts.empty()) pts += ' ';
    pts += num(xs[i]) + "," + num(ys[i]);
  }
  return pts;
}

/// Per-pixel-column reduction of a series when there are more samples than
/// columns: `take` picks the column's value (min, max or mean).
enum class reduce { min, max, mean };
void columns(const std::vector<double>& xs, const std::vector<double>& ys,
             reduce how, std::vector<double>& ox, std::vector<double>& oy) {
  ox.clear();
  oy.clear();
  for (std::size_t i = 0; i < xs.size();) {
    auto col = std::floor(xs[i]);
    double acc = ys[i], sx = xs[i];
    std::size_t n = 1, j = i + 1;
    for (; j < xs.size() && std::floor(xs[j]) == col; ++j, ++n) {
      if (how == reduce::min) acc = std::min(acc, ys[j]);
      else if (how == reduce::max) acc = std::max(acc, ys[j]);
      else acc += ys[j];
      sx = xs[j];
    }
    ox.push_back(sx);
    oy.push_back(how == reduce::mean ? acc / double(n) : acc);
    i = j;
  }
}

/// Draws the stacked bands of one lane (`truth` strip or the views) as one
/// path per band, merging samples whose band edges land on the same half
/// pixel.
template <class X>
void lane_bands(svg_out& o, const run_trace& tr, std::size_t lane, bool truth,
                double top, double h, X x_of, const std::string& who) {
  auto n = tr.samples();
  if (n == 0) return;
  std::size_t bands = truth ? truth_bands : view_bands;
  struct seg { double x0, x1, hi, lo; };
  for (std::size_t k = 0; k < bands; ++k) {
    std::vector<seg> segs;
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      auto& c = truth ? tr.truth_at(i, lane) : tr.view_at(i, lane);
      double lo = k ? c[k - 1] : 0, hi = c[k];
      if (c[bands - 1] == 0) lo = hi = 0;
      double yhi = std::round((top + h - hi / 255.0 * h) * 2) / 2;
      double ylo = std::round((top + h - lo / 255.0 * h) * 2) / 2;
      double x0 = x_of(tr.t_s[i]);
      double x1 = x_of(i + 1 < n ? tr.t_s[i + 1] : tr.end_s);
      any |= yhi != ylo;
      if (!segs.empty() && segs.back().hi == yhi && segs.back().lo == ylo)
        segs.back().x1 = x1;
      else
        segs.push_back({x0, x1, yhi, ylo});
    }
    if (!any) continue;
    std::string d = "M" + num(segs[0].x0) + "," + num(segs[0].hi);
    for (std::size_t j = 0; j < segs.size(); ++j) {
      d += "H" + num(segs[j].x1);
      if (j + 1 < segs.size()) d += "V" + num(segs[j + 1].hi);
    }
    d += "V" + num(segs.back().lo);
    for (std::size_t j = segs.size(); j-- > 0;) {
      d += "H" + num(segs[j].x0);
      if (j > 0) d += "V" + num(segs[j - 1].lo);
    }
    d += "Z";
    o.s += "<path class=\"" + std::string(truth ? "t" : "v") + std::to_string(k)
           + "\" d=\"" + d + "\"><title>" + xml_escape(who) + ": "
           + (truth ? "truth: " : "") + (truth ? truth_names[k] : view_names[k])
           + "</title></path>";
  }
}

} // namespace

// -- escaping -------------------------------------------------------------------

std::optional<report_format> report_format_for(std::string_view path) {
  auto dot = path.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string ext(path.substr(dot + 1));
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "html" || ext == "htm") return report_format::html;
  if (ext == "svg") return report_format::svg;
  return std::nullopt;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default:
          out += (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f
                   ? '?'
                   : static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // Multi-byte UTF-8: copy a well-formed sequence, else one '?'.
    std::size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len == 3) { // no overlongs, no surrogates
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

std::string svg_number(double v, int decimals) {
  if (!std::isfinite(v)) return "0";
  decimals = std::clamp(decimals, 0, 6);
  // Beyond this no plot coordinate or figure goes; keeps "%f" short.
  v = std::clamp(v, -1e15, 1e15);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  for (auto& c : s)
    if (c == ',') c = '.'; // a decimal comma from a foreign locale
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

// -- one run ----------------------------------------------------------------------

namespace {

std::string render_run(const report_run& run, int width, double* height) {
  auto& tr = run.trace;
  auto& r = run.verdict;
  const double W = std::max(400, width);
  const double ML = 92, MR = 14, PW = W - ML - MR;
  const double end = tr.end_s > 0 ? tr.end_s : std::max(1.0, r.duration_s);
  auto x_of = [&](double t) { return ML + std::clamp(t / end, 0.0, 1.0) * PW; };

  svg_out o;
  double y = 0;
  // Title.
  {
    std::string t = r.scenario + "  seed " + std::to_string(r.seed) + "  "
                    + std::to_string(r.nodes) + " nodes  engine " + run.engine;
    o.text(8, 16, t, "ti");
    o.text(W - MR, 16, r.pass() ? "PASS" : "FAIL",
           std::string("ti ") + (r.pass() ? "ok" : "bad"), "end");
    y = 24;
  }

  // Fault band: rows packed greedily so labels do not overlap.
  auto spans = band_spans(tr);
  constexpr std::size_t max_rows = 4;
  std::vector<double> row_end;
  std::vector<std::size_t> row_of(spans.size(), 0);
  std::vector<bool> labelled(spans.size(), false);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    double x0 = x_of(spans[i].start_s);
    // The first row with room; else a new row; else, unlabelled, the row
    // that frees up first.
    std::size_t row = row_end.size();
    for (std::size_t k = 0; k < row_end.size(); ++k)
      if (row_end[k] + 3 <= x0) {
        row = k;
        break;
      }
    if (row == row_end.size() && row_end.size() >= max_rows)
      row = static_cast<std::size_t>(
        std::min_element(row_end.begin(), row_end.end()) - row_end.begin());
    double x1 = std::max(x_of(spans[i].end_s), x0 + 2);
    // A label may run past its interval into free room on its row.
    double label_end = x0 + 6.0 * spans[i].label.size() + 8;
    labelled[i] = row < row_end.size() && row_end[row] + 3 <= x0;
    if (row == row_end.size()) {
      row_end.push_back(0);
      labelled[i] = true;
    }
    row_end[row] = std::max(row_end[row], labelled[i] ? std::max(x1, label_end) : x1);
    row_of[i] = row;
  }
  const double row_h = 15;
  const double band_top = y + 4;
  const double band_h = std::max<std::size_t>(1, row_end.size()) * row_h;
  o.text(ML - 6, band_top + 11, "faults", "hd", "end");
  if (spans.empty())
    o.text(ML + 4, band_top + 11, "none", "sm");
  y = band_top + band_h + 8;

  // Lanes.
  const double lanes_hd = y;
  const double lane_h =
    tr.lanes ? std::clamp(std::floor(380.0 / double(tr.lanes)), 5.0, 16.0) : 0;
  const double lanes_top = lanes_hd + 16;
  const double lanes_h = lane_h * double(tr.lanes);
  y = lanes_top + lanes_h + 10;
  // Agreement.
  const double agr_hd = y, agr_top = agr_hd + 16, agr_h = 100;
  y = agr_top + agr_h + 10;
  // Traffic.
  const double trf_hd = y, trf_top = trf_hd + 16, trf_h = 120;
  y = trf_top + trf_h;
  const double axis_y = y;
  y += 34;
  const double legend_y = y;
  y += 40;
  const double H = y;

  std::string head = "<svg class=\"rp\" width=\"" + num(W) + "\" height=\""
                     + num(H) + "\" viewBox=\"0 0 " + num(W) + " " + num(H)
                     + "\" role=\"img\"><style>" + svg_style + "</style>"
                     + "<rect width=\"" + num(W) + "\" height=\"" + num(H)
                     + "\" fill=\"#ffffff\"/>";

  // Shading of network-wide faults across every panel, behind the plots.
  svg_out shade;
  for (auto& f : tr.faults) {
    if (f.node != no_node) continue;
    double x0 = x_of(f.start_s), x1 = std::max(x_of(f.end_s), x0 + 1);
    shade.rect(x0, band_top, x1 - x0, axis_y - band_top,
               "sh k" + std::to_string(static_cast<int>(f.what)));
  }

  // Vertical grid (time ticks) over the agreement and traffic panels.
  double step = nice_step(end, 10);
  for (double t = 0; t <= end + 1e-9; t += step) {
    double x = x_of(t);
    o.line(x, agr_top, x, agr_top + agr_h, "gr");
    o.line(x, trf_top, x, trf_top + trf_h, "gr");
    o.line(x, axis_y, x, axis_y + 4, "fr");
    o.text(x, axis_y + 15, svg_number(t, step < 1 ? 1 : 0), "sm", "middle");
  }
  o.text(ML + PW / 2, axis_y + 28, "time since the start of the run (s, virtual)",
         "sm", "middle");

  // Fault band.
  for (std::size_t i = 0; i < spans.size(); ++i) {
    auto& sp = spans[i];
    double x0 = x_of(sp.start_s), x1 = std::max(x_of(sp.end_s), x0 + 2);
    double ry = band_top + row_of[i] * row_h;
    auto cls = "fb k" + std::to_string(static_cast<int>(sp.what));
    o.rect(x0, ry + 1, x1 - x0, row_h - 2, cls, sp.title);
    if (labelled[i]) o.text(x0 + 3, ry + 11, fit(sp.label, W - MR - x0));
  }

  // Lanes: what up nodes hold about each lane's nodes, under a truth strip.
  o.text(8, lanes_hd + 11,
         "member states: share of up nodes' views of each lane's node"
           + std::string(tr.nodes_per_lane > 1 ? "s" : "")
           + " (top strip: the truth)",
         "hd");
  if (tr.lanes > 0) {
    double strip = std::max(1.5, std::round(lane_h * 0.22 * 2) / 2);
    double gap = lane_h >= 6 ? 1 : 0;
    std::size_t label_every =
      static_cast<std::size_t>(std::ceil(9.0 / std::max(1.0, lane_h)));
    for (std::size_t l = 0; l < tr.lanes; ++l) {
      double top = lanes_top + l * lane_h;
      auto who = tr.lane_label(l);
      lane_bands(o, tr, l, true, top, strip, x_of, who);
      lane_bands(o, tr, l, false, top + strip, lane_h - strip - gap, x_of, who);
      if (l % label_every == 0)
        o.text(ML - 4, top + std::min(lane_h, 10.0) - 1, who, "sm", "end");
    }
    // Node faults on their lanes.
    for (auto& f : tr.faults) {
      if (f.node == no_node) continue;
      double x0 = x_of(f.start_s), x1 = std::max(x_of(f.end_s), x0 + 1.5);
      double top = lanes_top + tr.lane_of(f.node) * lane_h;
      char t[64];
      std::snprintf(t, sizeof t, " (%.1f-%.1f s)", f.start_s, f.end_s);
      o.rect(x0, top, x1 - x0, lane_h - gap,
             "nf k" + std::to_string(static_cast<int>(f.what)), f.label + t);
    }
    // Node marks (leave, restart) as small ticks on their lanes.
    for (auto& m : tr.marks) {
      if (m.node == no_node) continue;
      double x = x_of(m.t_s), top = lanes_top + tr.lane_of(m.node) * lane_h;
      o.s += "<path class=\"nm\" d=\"M" + num(x - 3) + "," + num(top) + "H"
             + num(x + 3) + "L" + num(x) + "," + num(top + std::min(lane_h, 6.0))
             + "Z\"><title>" + xml_escape(m.label) + " at "
             + svg_number(m.t_s, 1) + " s</title></path>";
    }
    o.rect(ML, lanes_top, PW, lanes_h, "fr");
  }

  // Agreement.
  o.text(8, agr_hd + 11,
         "agreement: share of up nodes whose view is exactly right", "hd");
  auto ay = [&](double v) { return agr_top + agr_h - std::clamp(v, 0.0, 1.0) * agr_h; };
  for (double v : {0.0, 0.5, 1.0}) {
    o.line(ML, ay(v), ML + PW, ay(v), "gr");
    o.text(ML - 4, ay(v) + 3, svg_number(v, 1), "sm", "end");
  }
  std::vector<double> xs;
  for (auto t : tr.t_s) xs.push_back(x_of(t));
  auto series = [&](const std::vector<double>& v, reduce how, auto y_of,
                    const std::string& cls, const std::string& title) {
    if (v.size() != xs.size() || v.empty()) return;
    std::vector<double> cx, cy;
    columns(xs, v, how, cx, cy);
    for (auto& q : cy) q = y_of(q);
    o.s += "<polyline class=\"" + cls + "\" points=\"" + polyline(cx, cy)
           + "\"><title>" + xml_escape(title) + "</title></polyline>";
  };
  series(tr.mem_agree, reduce::min, ay, "ln lm",
         "membership: up nodes whose member view is exactly right");
  series(tr.md_agree, reduce::min, ay, "ln ld",
         "metadata: up nodes holding every acknowledged write");
  if (!tr.writes_s.empty()) {
    std::string d;
    double last = -1;
    for (auto t : tr.writes_s) {
      double x = std::round(x_of(t) * 2) / 2;
      if (x == last) continue;
      last = x;
      d += "M" + num(x) + "," + num(agr_top + agr_h) + "v-5";
    }
    o.s += "<path class=\"wr\" d=\"" + d + "\"><title>"
           + std::to_string(tr.writes_s.size())
           + " acknowledged writes</title></path>";
  }
  o.rect(ML, agr_top, PW, agr_h, "fr");

  // Traffic, log scale.
  o.text(8, trf_hd + 11,
         "traffic: bytes/s sent per node (solid: mean of up nodes; dashed: "
         "busiest node)",
         "hd");
  double vmax = 0, vmin = 0;
  for (auto* v : {&tr.mem_bps_mean, &tr.md_bps_mean, &tr.mem_bps_max,
                  &tr.md_bps_max})
    for (auto q : *v)
      if (std::isfinite(q)) vmax = std::max(vmax, q);
  for (auto* v : {&tr.mem_bps_mean, &tr.md_bps_mean})
    for (auto q : *v)
      if (std::isfinite(q) && q > 0 && (vmin == 0 || q < vmin)) vmin = q;
  double lo = std::pow(10.0, std::floor(std::log10(std::max(1.0, vmin))));
  double hi = std::pow(10.0, std::ceil(std::log10(std::max(lo * 10, vmax))));
  auto ty = [&](double v) {
    double f = (std::log10(std::max(lo, std::isfinite(v) ? v : lo)) - std::log10(lo))
               / (std::log10(hi) - std::log10(lo));
    return trf_top + trf_h - std::clamp(f, 0.0, 1.0) * trf_h;
  };
  for (double v = lo; v <= hi * 1.0001; v *= 10) {
    o.line(ML, ty(v), ML + PW, ty(v), "gr");
    o.text(ML - 4, ty(v) + 3, bytes_label(v), "sm", "end");
  }
  series(tr.mem_bps_max, reduce::max, ty, "ln lm mx",
         "membership, busiest node (B/s)");
  series(tr.md_bps_max, reduce::max, ty, "ln ld mx",
         "metadata, busiest node (B/s)");
  series(tr.mem_bps_mean, reduce::mean, ty, "ln lm",
         "membership, mean per up node (B/s)");
  series(tr.md_bps_mean, reduce::mean, ty, "ln ld",
         "metadata, mean per up node (B/s)");
  o.rect(ML, trf_top, PW, trf_h, "fr");

  // Marks across the plots: settle, and the convergence the verdict measured.
  for (auto& m : tr.marks) {
    if (m.node != no_node) continue;
    double x = x_of(m.t_s);
    o.line(x, lanes_top, x, axis_y, "mk",
           m.label + " at " + svg_number(m.t_s, 1) + " s");
    o.text(x + 3, trf_top + trf_h - 4, m.label, "sm");
  }
  if (tr.settle_s >= 0) {
    auto conv = [&](const std::optional<double>& c, const std::string& what,
                    double label_y) {
      if (!c) return;
      double x = x_of(tr.settle_s + *c);
      auto label = what + " +" + svg_number(*c, 1) + " s";
      o.line(x, agr_top, x, agr_top + agr_h, "cv", label);
      o.text(x + 3, label_y, label, "sm");
    };
    conv(r.mem_converge_s, "members agree", agr_top + agr_h - 24);
    if (r.expect.check_metadata)
      conv(r.md_converge_s, "stores agree", agr_top + agr_h - 12);
  }

  // Legend.
  {
    double lx = ML, ly = legend_y;
    o.text(8, ly + 9, "views", "sm");
    for (std::size_t k = 0; k < view_bands; ++k) {
      o.rect(lx, ly, 10, 10, "v" + std::to_string(k));
      o.text(lx + 13, ly + 9, view_names[k], "sm");
      lx += 20 + 6.0 * std::string(view_names[k]).size();
    }
    lx += 12;
    o.text(lx, ly + 9, "truth", "sm");
    lx += 32;
    for (std::size_t k = 0; k < truth_bands; ++k) {
      o.rect(lx, ly, 10, 10, "t" + std::to_string(k));
      o.rect(lx, ly, 10, 10, "fr");
      o.text(lx + 13, ly + 9, truth_names[k], "sm");
      lx += 20 + 6.0 * std::string(truth_names[k]).size();
    }
    lx = ML;
    ly += 16;
    o.text(8, ly + 9, "faults", "sm");
    for (std::size_t k = 0; k < fault_kinds; ++k) {
      auto kind = static_cast<fault_span::kind>(k);
      std::string name = to_string(kind);
      o.rect(lx, ly, 10, 10, "fb k" + std::to_string(k));
      o.text(lx + 13, ly + 9, name, "sm");
      lx += 20 + 6.0 * name.size();
    }
    lx += 12;
    o.line(lx, ly + 5, lx + 18, ly + 5, "ln lm");
    o.text(lx + 22, ly + 9, "membership", "sm");
    lx += 90;
    o.line(lx, ly + 5, lx + 18, ly + 5, "ln ld");
    o.text(lx + 22, ly + 9, "metadata", "sm");
    lx += 76;
    o.line(lx, ly + 1, lx, ly + 9, "wr");
    o.text(lx + 4, ly + 9, "write", "sm");
  }

  if (height) *height = H;
  return head + shade.s + o.s + "</svg>";
}

} // namespace

std::string render_run_svg(const report_run& run, int width) {
  return render_run(run, width, nullptr);
}

// -- documents ------------------------------------------------------------------

std::string render_html(const std::vector<report_run>& runs,
                        std::string_view title) {
  std::size_t failed = 0;
  for (auto& r : runs) failed += !r.verdict.pass();
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  h += "<title>" + xml_escape(title) + "</title>\n<style>\n";
  h += "body{font:14px sans-serif;margin:16px auto;max-width:1040px;"
       "padding:0 12px;color:#222}\n"
       "table{border-collapse:collapse;margin:8px 0}\n"
       "th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}\n"
       "th:first-child,td:first-child{text-align:left}\n"
       "td.PASS{color:#2e7d32;font-weight:bold}td.FAIL{color:#c62828;"
       "font-weight:bold}\n"
       "section{margin-top:28px;border-top:2px solid #ccc;padding-top:8px}\n"
       "svg{max-width:100%;height:auto}\n"
       "pre{font-size:12px;overflow-x:auto;background:#f6f6f6;padding:6px}\n"
       "code{background:#f0f0f0;padding:1px 4px}\n"
       "ul.fail{color:#c62828}\n";
  h += "</style>\n</head>\n<body>\n";
  h += "<h1>" + xml_escape(title) + "</h1>\n";
  h += "<p>" + std::to_string(runs.size()) + " run(s): "
       + std::to_string(runs.size() - failed) + " passed, "
       + std::to_string(failed)
       + " failed. Virtual time; each run is a pure function of its "
         "scenario, size, seed, profile and engine, and is reproduced by the "
         "command under its plots.</p>\n";
  h += "<table class=\"verdicts\">\n<tr><th>scenario</th><th>seed</th>"
       "<th>nodes</th><th>engine</th><th>mem_conv</th><th>rounds</th>"
       "<th>md_conv</th><th>mem_B/n/s</th><th>md_B/n/s</th><th>FP</th>"
       "<th>INC</th><th>LOST</th><th>verdict</th></tr>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto& r = runs[i].verdict;
    std::string rounds = "-";
    if (r.mem_converge_s && r.probe_interval_s > 0)
      rounds = svg_number(*r.mem_converge_s / r.probe_interval_s, 1);
    auto v = r.pass() ? "PASS" : "FAIL";
    h += "<tr><td><a href=\"#run-" + std::to_string(i) + "\">"
         + xml_escape(r.scenario) + "</a></td><td>" + std::to_string(r.seed)
         + "</td><td>" + std::to_string(r.nodes) + "</td><td>"
         + xml_escape(runs[i].engine) + "</td><td>" + opt_s(r.mem_converge_s)
         + "</td><td>" + rounds + "</td><td>"
         + (r.expect.check_metadata ? opt_s(r.md_converge_s) : "n/a")
         + "</td><td>" + svg_number(r.mem_bytes_per_node_s, 0) + "</td><td>"
         + svg_number(r.md_bytes_per_node_s, 0) + "</td><td>"
         + std::to_string(r.false_positives) + "</td><td>"
         + std::to_string(r.incarnation_regressions) + "</td><td>"
         + std::to_string(r.lost_writes) + "</td><td class=\"" + v + "\">" + v
         + "</td></tr>\n";
  }
  h += "</table>\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto& run = runs[i];
    auto& r = run.verdict;
    h += "<section id=\"run-" + std::to_string(i) + "\">\n<h2>"
         + xml_escape(r.scenario) + ", seed " + std::to_string(r.seed) + ", "
         + std::to_string(r.nodes) + " nodes, " + xml_escape(run.engine)
         + ": " + (r.pass() ? "PASS" : "FAIL") + "</h2>\n";
    h += "<p>" + xml_escape(run.description) + "</p>\n";
    h += render_run_svg(run) + "\n";
    auto why = r.reasons();
    if (!why.empty()) {
      h += "<ul class=\"fail\">\n";
      for (auto& w : why) h += "<li>" + xml_escape(w) + "</li>\n";
      h += "</ul>\n";
    }
    if (!run.trace.faults.empty()) {
      h += "<table class=\"faults\">\n<tr><th>fault</th><th>from (s)</th>"
           "<th>to (s)</th><th>what</th></tr>\n";
      for (auto& f : run.trace.faults)
        h += std::string("<tr><td>") + to_string(f.what) + "</td><td>"
             + svg_number(f.start_s, 1) + "</td><td>" + svg_number(f.end_s, 1)
             + "</td><td>" + xml_escape(f.label) + "</td></tr>\n";
      h += "</table>\n";
    }
    h += "<p>reproduce: <code>" + xml_escape(run.reproduce) + "</code></p>\n";
    if (!run.timeline.empty()) {
      h += "<details><summary>timeline (" + std::to_string(run.timeline.size())
           + " lines)</summary>\n<pre>";
      for (auto& line : run.timeline) h += xml_escape(line) + "\n";
      h += "</pre></details>\n";
    }
    h += "</section>\n";
  }
  h += "</body>\n</html>\n";
  return h;
}

std::string render_svg(const std::vector<report_run>& runs,
                       std::string_view title) {
  const int W = 1000;
  std::string body;
  double y = 34;
  for (auto& run : runs) {
    double h = 0;
    auto svg = render_run(run, W, &h);
    body += "<g transform=\"translate(0," + num(y) + ")\">" + svg + "</g>\n";
    y += h + 16;
  }
  std::vector<report> reports;
  for (auto& run : runs) reports.push_back(run.verdict);
  std::istringstream table(format_table(reports));
  std::string line;
  y += 6;
  std::string tab;
  while (std::getline(table, line)) {
    tab += "<text x=\"8\" y=\"" + num(y) + "\" class=\"mono\" "
           "xml:space=\"preserve\">" + xml_escape(line) + "</text>\n";
    y += 14;
  }
  y += 8;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"rp\" width=\""
       + std::to_string(W) + "\" height=\"" + num(y) + "\" viewBox=\"0 0 "
       + std::to_string(W) + " " + num(y) + "\">\n";
  s += std::string("<style>") + svg_style + "</style>\n";
  s += "<rect width=\"" + std::to_string(W) + "\" height=\"" + num(y)
       + "\" fill=\"#ffffff\"/>\n";
  s += "<text x=\"8\" y=\"22\" class=\"ti\">" + xml_escape(title) + "</text>\n";
  s += body + tab + "</svg>\n";
  return s;
}

std::string render_report(report_format f, const std::vector<report_run>& runs,
                          std::string_view title) {
  return f == report_format::svg ? render_svg(runs, title)
                                 : render_html(runs, title);
}

} // namespace pekonode::chaos
