#pragma once
// Inside the admin server (not a public header): requests and responses as
// plain values, the route table, admission before the body is read, the
// handlers that call the backend, and the state of one long-poll. No
// sockets and no HTTP library: node/admin_http.cc moves bytes and threads.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/admin_backend.h"
#include "node/admin_http.h"
#include "node/admin_http_guard.h"
#include "node/event_log.h"
#include "node/metrics.h"

namespace pekonode::node::http {

using steady = std::chrono::steady_clock;
using header_list = std::vector<std::pair<std::string, std::string>>;

/// One request as the server received it.
struct request {
  std::string method;     ///< as sent ("GET", ...)
  std::string version;    ///< "HTTP/1.1"
  std::string target;     ///< raw request target: path and query, encoded
  std::string path;       ///< target before '?', still percent-encoded
  /// Query parameters, percent-decoded ('+' is a space), in order.
  std::vector<std::pair<std::string, std::string>> query;
  bool has_host = false;
  std::string host;
  std::string origin;
  std::string authorization;
  std::string content_type;
  std::string accept;         ///< Accept (GET /v1/events: SSE or NDJSON)
  std::string last_event_id;  ///< Last-Event-ID (SSE reconnects)
  std::optional<uint64_t> content_length;
  bool chunked = false;   ///< Transfer-Encoding: chunked
  bool expect_continue = false;
  /// Headers that must appear at most once but came more than once.
  std::string duplicate_header;
  bool tls = false;
  std::string body;

  /// Value of query parameter `name`, or nullptr.
  const std::string* param(const std::string& name) const;
};

/// One response: JSON unless a handler says otherwise.
struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  header_list headers;
};

/// {"error": message} with `status`.
response error(int status, const std::string& message);

/// What a request addresses.
enum class endpoint {
  none,
  health,
  health_ready,
  self,
  members,
  kv_root,
  kv_key,
  metadata,
  join,
  leave,
  rejoin,
  tags,
  metrics,
  faults,
  user_event,  ///< POST /v1/event/{name}
  query,       ///< POST /v1/query/{name}
  keyring,     ///< /v1/keyring: list, install, use, remove keys
  ui,          ///< /ui/{file}: the live cluster view's static files
  ui_redirect, ///< /ui -> /ui/
  snapshot,    ///< GET (save) / PUT (restore) /v1/snapshot
  force_leave, ///< POST /v1/force-leave
  events,      ///< /v1/events: the node's event stream
};

/// Which body a request may carry, and so its limit.
enum class body_kind { small, json, value, snapshot, event };

/// The route table's answer for one method and path.
struct route {
  endpoint ep = endpoint::none;
  std::string key_raw;        ///< /v1/kv/{key_raw}, still encoded
  const char* allow = "";     ///< methods the path takes, for 405 / OPTIONS
  bool method_ok = false;
  bool mutating = false;      ///< changes the node (token and CSRF rules)
  body_kind body = body_kind::small;
  /// Query parameters the endpoint accepts (others are a 400).
  std::vector<const char*> params;
};

/// Routes `method` on the raw `path`. New endpoints are one entry here plus
/// a handler (events, keyring, ...); the rules around them stay as they are.
route match(const std::string& method, const std::string& path,
            bool faults_enabled);

/// Splits the raw target into path and decoded query; false on a malformed
/// escape (the reason is in `why`).
bool parse_target(request& req, std::string& why);

/// The state of one long-poll (GET /v1/kv?watch=1): what it already saw and
/// what it will answer. Fed batches by the server until it can answer.
struct watch_state {
  uint64_t after = 0;     ///< the client's index
  uint64_t cursor = 0;    ///< newest change index examined so far
  std::string prefix;
  steady::time_point deadline;
  bool truncated = false;
  std::vector<watch_event> picked;

  /// Applies a batch the backend returned for kv_watch(from, ...) with
  /// from <= cursor. True when the watch can be answered now (matching
  /// events, or history lost / index from the future: the client re-lists).
  bool apply(const watch_batch& b);

  /// {"index","truncated","events":[...]}.
  response answer() const;
};

// -- GET /v1/events ------------------------------------------------------------

/// A GET /v1/events request, parsed (see docs/ARCHITECTURE.md "Event
/// stream").
struct event_stream_params {
  /// Server-sent events (Accept: text/event-stream) instead of NDJSON.
  bool sse = false;
  /// Events after this index (?index=N, or an SSE client's Last-Event-ID);
  /// none: only events appended from now on.
  std::optional<uint64_t> after;
  event_filter filter;        ///< ?type=a,b and ?prefix=P
};

/// Parses ?index, ?type, ?prefix and the Accept / Last-Event-ID headers;
/// on bad input returns false with the 400 in `err`.
bool parse_event_stream(const request& req, size_t max_prefix_bytes,
                        event_stream_params& out,
                        std::optional<response>& err);

/// One event as the stream writes it: a JSON line (NDJSON), or an SSE
/// message "id: N / event: TYPE / data: JSON".
std::string format_stream_event(const event_record& ev, bool sse);

/// A line of the stream's own (type "heartbeat", "reset" or "cutoff"; the
/// object carries "type"): a JSON line, or an SSE message of that event
/// name (a heartbeat is an SSE comment).
std::string format_stream_control(const nlohmann::json& line, bool sse);

/// The server's request logic. Admission runs on the event-loop thread and
/// never calls the backend; handle() runs on worker threads.
class api {
 public:
  api(admin_backend& backend, const admin_config& cfg,
      metrics_registry& stats, const std::atomic<bool>& stopping);

  /// Checks made before a body is read: target length, Host, Origin,
  /// route, query, token, CSRF, declared body size. Returns the refusal, or
  /// nothing when the request may proceed. `r` is filled in either way.
  std::optional<response> admit(request& req, route& r) const;

  /// Largest body this route accepts.
  size_t body_limit(const route& r) const;

  /// The 413 for a body of `size` bytes (0: size not known in advance).
  response too_large(const route& r, uint64_t size) const;

  /// True when the request is a long-poll; fills `w` or, on bad
  /// parameters, `err`.
  bool watch_request(const request& req, const route& r, watch_state& w,
                     std::optional<response>& err) const;

  /// Runs an admitted request with a complete body (worker thread).
  response handle(const request& req, const route& r);

  /// Counts a response by status (the caller sends it).
  void count(int status) const;

 private:
  response health(bool ready);
  response self_info();
  response members();
  response kv_list(const request& req, const std::string& prefix);
  response kv_get(const request& req, const route& r);
  response kv_put(const request& req, const route& r);
  response kv_del(const request& req, const route& r);
  /// PUT / DELETE with ?cas=, ?replicas=, ?timeout= (kv_write).
  response kv_write(const request& req, const route& r, bool del);
  response metadata_get();
  response metadata_put(const request& req);
  response join(const request& req);
  response action(const result& res);
  response tags_put(const request& req);
  response tags_patch(const request& req);
  response metrics();
  /// /ui/{name}: a static file of the cluster view, with headers that keep
  /// it from being framed or from loading anything but this node's API.
  static response ui_asset(const std::string& name);
  response snapshot_get();
  response snapshot_put(const request& req);
  response force_leave(const request& req);
  response user_event(const request& req, const route& r);
  response query(const request& req, const route& r);
  response faults_get();
  response faults_post(const request& req);
  response keyring_call(const request& req);
  response local_keyring(keyring_op op, const std::string& key);
  /// Takes one of the query slots (queries and cluster-wide keyring
  /// commands hold a worker while they wait for answers; the caller gives
  /// it back with query_waits_.fetch_sub(1)): nullopt, or the 503 to send
  /// when all are taken.
  std::optional<response> take_query_slot();
  std::optional<response> decode_key(const std::string& raw,
                                     std::string& key) const;
  void refuse(const char* rule) const;

  admin_backend& backend_;
  const admin_config& cfg_;
  metrics_registry& stats_;
  const std::atomic<bool>& stopping_;
  admin_token token_;
  std::atomic<bool> join_requested_{false};
  // Replicated writes (?replicas=K > 1) waiting in a worker right now.
  std::atomic<size_t> replica_waits_{0};
  std::atomic<int> join_waits_{0};
  std::atomic<int> query_waits_{0};
  std::mutex tags_mtx_;  ///< serialises PATCH /v1/tags read-modify-writes
  /// One snapshot save or restore at a time (each may hold a snapshot's
  /// worth of memory); others get 503.
  std::atomic<bool> snapshot_busy_{false};
};

} // namespace pekonode::node::http
