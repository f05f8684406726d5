#pragma once
// Who saw what, and when, in an in-process cluster: every observer's member
// view and metadata versions, fed with membership and metadata events, plus
// the time each observer started to see each fact. Pure bookkeeping: no CAF,
// no clock reads, no locking (the caller serialises access).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/types.h"
#include "membership/core.h"

namespace pekonode::chaos::inproc {

/// How many observers meet a condition and since when.
struct reach {
  /// Active observers the condition was asked of.
  size_t observers = 0;
  /// One entry per observer that meets the condition: the time it started to
  /// meet it (taken from the events, not from when the table was read).
  std::vector<time_point> times;

  /// True when every observer asked meets the condition (and there was one).
  bool all() const { return observers > 0 && times.size() == observers; }
  /// The latest of `times` (the moment the last observer got there); the
  /// epoch if `times` is empty.
  time_point last() const;
  /// Latencies `times[i] - since`, sorted ascending (negative ones clamp to 0).
  std::vector<duration> latencies(time_point since) const;
};

/// The q-quantile (0..1, nearest rank) of sorted latencies; zero if empty.
duration quantile(const std::vector<duration>& sorted, double q);

/// Views of `size()` observers (one per node slot). A slot has lives: `open`
/// starts a fresh, empty view and a new generation; events tagged with an
/// older generation (in flight from a crashed incarnation) are ignored.
/// Closed slots (crashed, left, stopped) are left out of every query.
class view_table {
public:
  explicit view_table(size_t observers);

  size_t size() const { return slots_.size(); }

  /// Starts a new life of observer `i` with an empty view; returns its
  /// generation, to be passed with each of its events.
  uint64_t open(size_t i);

  /// Stops counting observer `i`: excluded from queries, events ignored
  /// until the next `open`. Its last view is kept for inspection.
  void close(size_t i);

  bool active(size_t i) const { return slots_.at(i).active; }
  size_t active_count() const;

  /// Observer `i` (life `gen`) saw `name` enter or stay in `state` at `at`.
  /// A repeated state keeps its original time. Returns false if ignored.
  bool on_member(size_t i, uint64_t gen, const std::string& name,
                 membership::member_state state, uint64_t incarnation,
                 time_point at);

  /// Observer `i` (life `gen`) now holds `key` at `version` (empty version:
  /// deleted) since `at`. Returns false if ignored.
  bool on_key(size_t i, uint64_t gen, const std::string& key,
              const std::string& version, time_point at);

  /// Active observers whose view has exactly `n` alive members (themselves
  /// included), and since when that count has held.
  reach all_alive(size_t n) const;

  /// Active observers, except slot `except` (pass size() for none), whose
  /// view has `name` in one of `states`, and since when.
  reach member_in(const std::string& name,
                  const std::vector<membership::member_state>& states,
                  size_t except) const;

  /// Active observers that hold `key` at exactly `version`, and since when.
  /// A later version replaces an earlier one (unique keys per put suit it).
  reach key_at(const std::string& key, const std::string& version) const;

  /// Observer `i`'s state for `name`, if it knows the name.
  std::optional<membership::member_state>
  state_of(size_t i, const std::string& name) const;

  /// Alive members in observer `i`'s view (itself included).
  size_t alive_count(size_t i) const { return slots_.at(i).alive; }

  /// Events applied and ignored so far (all observers).
  uint64_t applied() const { return applied_; }
  uint64_t ignored() const { return ignored_; }

private:
  struct seen {
    membership::member_state state = membership::member_state::alive;
    uint64_t incarnation = 0;
    time_point since{};
  };
  struct key_seen {
    std::string version;
    time_point since{};
  };
  struct slot {
    bool active = false;
    uint64_t gen = 0;
    size_t alive = 0;
    time_point alive_since{};
    std::unordered_map<std::string, seen> members;
    std::unordered_map<std::string, key_seen> keys;
  };

  bool accept(size_t i, uint64_t gen);

  std::vector<slot> slots_;
  uint64_t applied_ = 0;
  uint64_t ignored_ = 0;
};

} // namespace pekonode::chaos::inproc
