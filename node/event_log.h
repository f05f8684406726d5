#pragma once
// The node's event log: one ordered, indexed record of what this node saw
// happen (member joins and state changes, tag updates, key changes, user
// events and queries), kept in a bounded ring for GET /v1/events and fed to
// the event handlers. It is not durable and not replicated: each node has
// its own log and its own indexes, and a restart starts again at 1.
// Thread-safe; no CAF, no sockets; the clock is a parameter.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pekonode::node {

/// Event types the node appends (the `type` field). Member events name a
/// member, key events a key, user events and queries their name.
///
///   member-join     a member became known (also one per member, self
///                   included, when the log starts)
///   member-alive    a suspect or dead member is alive again, or this node
///                   rejoined
///   member-suspect  a member is suspected of having failed
///   member-dead     a member was declared dead
///   member-left     a member left gracefully
///   member-update   a member's tags or address changed
///   member-conflict another node claims this node's name
///   key-put         a key was written (here or elsewhere)
///   key-delete      a key was deleted
///   user            a user event (fed in by the user-event layer)
///   query           a query (fed in by the user-event layer)
namespace event_types {
constexpr const char* member_join = "member-join";
constexpr const char* member_alive = "member-alive";
constexpr const char* member_suspect = "member-suspect";
constexpr const char* member_dead = "member-dead";
constexpr const char* member_left = "member-left";
constexpr const char* member_update = "member-update";
constexpr const char* member_conflict = "member-conflict";
constexpr const char* key_put = "key-put";
constexpr const char* key_delete = "key-delete";
constexpr const char* user = "user";
constexpr const char* query = "query";
} // namespace event_types

/// True for the types above.
bool known_event_type(const std::string& type);

/// One entry of the log.
struct event_record {
  uint64_t index = 0;      ///< assigned by append: 1, 2, 3, ...
  std::string type;        ///< one of event_types
  /// What the event is about: the member's name, the key, or the user
  /// event's / query's name. `?prefix=` and handler filters match on it.
  std::string subject;
  int64_t time_ms = 0;     ///< wall clock (Unix ms) when appended
  /// Type-specific fields (see to_json); an object.
  nlohmann::json payload = nlohmann::json::object();
};

/// The event as one JSON object: {"index", "type", "time" (Unix ms),
/// "subject"} plus every field of the payload (payload fields never
/// override those four).
nlohmann::json to_json(const event_record& ev);

/// Which events a reader wants. Empty `types`: all. A type entry matches
/// that type exactly, or a family: "member" matches every "member-*", "key"
/// every "key-*". `prefix` is a prefix of the subject ("" matches all).
struct event_filter {
  std::vector<std::string> types;
  std::string prefix;

  bool matches(const event_record& ev) const;
};

/// Parses a comma-separated type list ("member-join,key", as ?type= and
/// handler specs take it). Each entry must be a known type or family
/// ("member", "key", "user", "query") or "*" (all); otherwise returns the
/// offending entry's reason. An empty list means all.
std::string parse_event_types(const std::string& text,
                              std::vector<std::string>& out);

/// What a read returns.
struct event_batch {
  std::vector<event_record> events; ///< matching events, ascending by index
  uint64_t last_index = 0;  ///< newest index examined (pass it back as after)
  uint64_t oldest_index = 0;///< oldest index the ring still holds (0: empty)
  /// Events after the requested index were already dropped from the ring
  /// (the reader missed some), or the index is ahead of the log (it comes
  /// from before a restart). The batch then starts at the oldest event held.
  bool reset = false;
};

/// The log. append() is called from the actor threads (and the user-event
/// layer): it takes a lock, copies the event into the ring, wakes readers
/// and calls the listeners; it never blocks on a reader.
class event_log {
 public:
  /// Default ring size: enough for a burst of churn in a few-hundred-node
  /// cluster, ~1-2 MB of memory at typical event sizes.
  static constexpr size_t default_capacity = 4096;

  /// Longest subject kept (longer ones are cut; keys are at most 1 KiB).
  static constexpr size_t max_subject_bytes = 1024;

  using clock_fn = std::function<int64_t()>;
  using listener = std::function<void(const event_record&)>;

  /// `capacity` >= 1 events; `clock` returns Unix ms (the system clock when
  /// empty).
  explicit event_log(size_t capacity = default_capacity, clock_fn clock = {});

  event_log(const event_log&) = delete;
  event_log& operator=(const event_log&) = delete;

  /// Appends one event and returns its index. `type` should be one of
  /// event_types; `payload` should be an object (anything else is stored
  /// under the field "payload"). This is the one entry point for every
  /// producer, e.g. the user-event layer:
  ///   log.append(event_types::user, name, {{"name", name}, {"payload", p}});
  uint64_t append(std::string type, std::string subject,
                  nlohmann::json payload);

  /// Events with index > `after` matching `filter`, at most `max` of them
  /// (examining stops at the max-th match; last_index says how far it got).
  /// Never waits.
  event_batch read(uint64_t after, const event_filter& filter,
                   size_t max) const;

  /// Waits until an event with index > `after` exists, at most `timeout`.
  /// True when one does.
  bool wait(uint64_t after, std::chrono::milliseconds timeout) const;

  /// Newest index assigned (0: none yet).
  uint64_t last_index() const;

  /// Events currently held.
  size_t size() const;

  size_t capacity() const noexcept { return capacity_; }

  /// Registers a function called with every appended event, in index
  /// order, on the appending thread, after the event is in the ring. It
  /// must be quick and must not call append() (the event handler runner
  /// only queues). Returns an id for remove_listener.
  size_t add_listener(listener fn);

  void remove_listener(size_t id);

 private:
  const size_t capacity_;
  clock_fn clock_;
  /// Serialises append() as a whole so listeners see events in order.
  std::mutex append_mtx_;
  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::deque<event_record> ring_;
  uint64_t next_index_ = 1;
  std::mutex listeners_mtx_;
  std::vector<std::pair<size_t, listener>> listeners_;
  size_t next_listener_ = 1;
};

} // namespace pekonode::node
