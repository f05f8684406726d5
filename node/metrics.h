#pragma once
// A small registry of counters and gauges rendered in the Prometheus text
// exposition format (0.0.4). It is not a client library: no histograms, no
// HTTP, no global registry; the node fills one from its actors' stats.

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pekonode::node {

/// Label name/value pairs; order does not matter (they are sorted by name).
using metric_labels = std::vector<std::pair<std::string, std::string>>;

enum class metric_kind { counter, gauge };

/// Thread-safe set of metric families. Rendering is deterministic: families
/// sorted by name, series sorted by their (sorted) label sets.
class metrics_registry {
 public:
  /// Declares a family with its HELP text. Returns false (and changes nothing)
  /// when the name is not a valid Prometheus metric name or the family exists
  /// with another kind. Re-declaring with the same kind updates the help text.
  bool describe(const std::string& name, metric_kind kind, std::string help);

  /// Adds `delta` (must be >= 0) to a counter series; creates it at 0 first.
  /// Returns false on an undeclared family, kind mismatch, bad labels or a
  /// negative delta.
  bool add(const std::string& name, const metric_labels& labels, double delta);

  /// Sets a series' value: any value for gauges; for counters this copies a
  /// monotonic total kept elsewhere (e.g. transport stats). Same failure rules.
  bool set(const std::string& name, const metric_labels& labels, double value);

  /// Current value of a series, or 0 when absent (for tests and self-checks).
  double value(const std::string& name, const metric_labels& labels) const;

  /// Prometheus text format: "# HELP", "# TYPE", then one line per series.
  std::string render() const;

  /// Appends this registry's exposition to `out`.
  void render_to(std::string& out) const;

 private:
  struct family {
    metric_kind kind = metric_kind::counter;
    std::string help;
    std::map<metric_labels, double> series;
  };

  bool update(const std::string& name, const metric_labels& labels,
              double value, bool is_add);

  mutable std::mutex mtx_;
  std::map<std::string, family> families_;
};

/// True for names matching [a-zA-Z_:][a-zA-Z0-9_:]*.
bool valid_metric_name(const std::string& name);

/// True for names matching [a-zA-Z_][a-zA-Z0-9_]* not starting with "__".
bool valid_label_name(const std::string& name);

/// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(const std::string& value);

/// Formats a sample value: integers without a decimal point, NaN, +Inf, -Inf.
std::string format_metric_value(double value);

} // namespace pekonode::node
