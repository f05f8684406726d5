#pragma once
// Plotted report of chaos runs: a self-contained HTML page (inline SVG and
// CSS; no scripts, no external files, readable offline) or one standalone
// SVG, drawn from each run's verdict (chaos/checkers.h) and time series
// (chaos/trace.h). Pure formatting: runs nothing, reads and writes no files.
//
// Per run: the faults as labelled intervals (shaded across the plots), one
// lane per node (or per group of nodes at large N) stacked by what the up
// nodes hold about it (alive / suspect / dead / left / unknown) under a thin
// strip of the truth, the agreement fractions of both layers, traffic per
// node on a log scale, and marks (settle, convergence, leaves, restarts).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chaos/checkers.h"
#include "chaos/trace.h"

namespace pekonode::chaos {

/// One run as the report shows it.
struct report_run {
  report verdict;
  run_trace trace;
  /// The scenario's one-line description.
  std::string description;
  /// "cores" or "actors".
  std::string engine;
  /// The command that reproduces the run.
  std::string reproduce;
  /// The run's text timeline (shown folded).
  std::vector<std::string> timeline;
};

enum class report_format { html, svg };

/// The format a file name asks for: ".html"/".htm" or ".svg" (any case);
/// nullopt for anything else.
std::optional<report_format> report_format_for(std::string_view path);

/// Escapes &, <, >, " and ' for XML text and attribute values, and replaces
/// what XML 1.0 cannot carry (control characters other than tab, newline
/// and carriage return; invalid UTF-8) with '?'.
std::string xml_escape(std::string_view s);

/// A number for SVG attributes and labels: fixed-point with `decimals`
/// places, "0" for NaN and infinities, never an exponent or a locale's
/// decimal comma.
std::string svg_number(double v, int decimals = 1);

/// The plots of one run as an <svg> element carrying its own styles (no
/// XML declaration), `width` pixels wide.
std::string render_run_svg(const report_run& run, int width = 1000);

/// A whole HTML document: a verdict table linking to each run, then per run
/// its description, plots, failure reasons, fault intervals, the
/// reproducing command and the folded timeline. Well-formed XML as well.
std::string render_html(const std::vector<report_run>& runs,
                        std::string_view title);

/// One standalone SVG document: a title, each run's plots stacked, then the
/// verdict table as text.
std::string render_svg(const std::vector<report_run>& runs,
                       std::string_view title);

/// `render_html` or `render_svg`.
std::string render_report(report_format f, const std::vector<report_run>& runs,
                          std::string_view title);

} // namespace pekonode::chaos
