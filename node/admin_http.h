#pragma once
// The node's admin HTTP API (see DESIGN.md "Interface contract"), served by
// libmicrohttpd: one event-loop thread owns every socket, a few worker
// threads run the blocking backend calls, and one watch thread serves all
// long-polls. It holds no node state; every request is answered by an
// admin_backend. Admission rules (Host, Origin, token, CSRF) live in
// node/admin_http_guard.h; docs/ARCHITECTURE.md explains the design.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/types.h"
#include "node/admin_backend.h"
#include "node/event_log.h"
#include "node/metrics.h"

namespace pekonode::node {

/// Knobs of the admin server. Defaults suit an operator, scripts and a chaos
/// harness polling a handful of nodes; none of them changes the wire protocol.
struct admin_config {
  // -- request limits ---------------------------------------------------------

  /// Largest value body (PUT /v1/kv/{key}, PUT /v1/metadata), whatever its
  /// Content-Type; larger bodies get 413 naming this limit. Set it to the
  /// metadata store's value limit (DESIGN.md targets 512 KiB). Default 512 KiB.
  size_t max_value_bytes = 512 * 1024;

  /// Name plus payload of a user event or query (POST /v1/event/{name},
  /// POST /v1/query/{name}): the gossip layer's limit, so one event fits
  /// one datagram. Larger ones get 413 naming it. Default 512 bytes.
  size_t max_event_bytes = 512;

  /// Longest query timeout (POST /v1/query/{name}?timeout=), and how many
  /// queries may wait for their deadline at once (each holds a worker; the
  /// rest get 503 with Retry-After). Defaults 60 s and 2.
  duration max_query_timeout = std::chrono::seconds(60);
  int max_query_waits = 2;

  /// How long a cluster-wide keyring command (/v1/keyring without ?local)
  /// waits for every member's answer unless ?timeout= says otherwise; it
  /// returns as soon as all have answered. It shares the query slots.
  duration keyring_timeout = std::chrono::seconds(5);

  /// Largest JSON body (join, tags, faults) and largest body of any other
  /// request. Default 64 KiB.
  size_t max_json_body_bytes = 64 * 1024;

  /// Longest key accepted in /v1/kv/{key} after percent-decoding; longer is a
  /// 400. Default 1024 bytes.
  size_t max_key_bytes = 1024;

  /// Longest request target (path and query, still encoded); longer is a
  /// 414. Request headers as a whole are capped by the HTTP library at
  /// 32 KiB (its 431). Default 8 KiB.
  size_t max_target_bytes = 8 * 1024;

  /// Request bodies buffered at once, all connections together: beyond it a
  /// request gets 503 with Retry-After instead of more memory. Bounds the
  /// server's body memory at this figure rather than connections x value
  /// limit. Default 32 MiB.
  size_t max_body_memory = 32 * 1024 * 1024;

  /// Largest snapshot: GET /v1/snapshot refuses (400) to produce a larger
  /// one and PUT /v1/snapshot refuses (413) a larger body. Snapshot bodies
  /// are buffered beside max_body_memory, in a budget of this size (so one
  /// full-size restore at a time). A snapshot is at most the metadata
  /// store's total_bytes plus a header under 1 KiB (each record is 26 bytes
  /// smaller than the store charges for its entry), so this should be the
  /// store's max_total_bytes (64 MiB by default) plus 1 KiB or more.
  /// Default 64 MiB + 64 KiB.
  size_t max_snapshot_bytes = 64 * 1024 * 1024 + 64 * 1024;

  /// Largest sum of values one recursive read (GET /v1/kv?recurse) returns;
  /// more is a 400 naming the limit. Default 16 MiB.
  size_t max_recurse_bytes = 16 * 1024 * 1024;

  // -- connections and deadlines ----------------------------------------------

  /// Open connections in all; further clients wait in the kernel's accept
  /// backlog until one closes. Default 256.
  size_t max_connections = 256;

  /// Open connections from one client IP; further ones are closed at once.
  /// Every local client shares 127.0.0.1, so this must leave room for the
  /// operator beside a misbehaving local script. Default 128.
  size_t max_connections_per_client = 128;

  /// A connection must deliver a request's complete headers within this
  /// time of opening (or of its previous response, for keep-alive) or it is
  /// closed with 408: slow or idle clients cannot hold a connection.
  /// Default 10 s.
  duration header_timeout = std::chrono::seconds{10};

  /// The body must be complete within this time of the headers, whatever its
  /// pace (a trickle of bytes does not extend it). Default 30 s.
  duration body_timeout = std::chrono::seconds{30};

  /// The response must be sent within this time of being queued (a client
  /// that stops reading is dropped). Default 30 s.
  duration write_timeout = std::chrono::seconds{30};

  // -- work -------------------------------------------------------------------

  /// Worker threads running backend calls. Connections do not occupy them
  /// (the event loop handles every socket, slow or not) and long-polls do
  /// not either (the watch thread serves them all), so a few suffice.
  /// Default 4.
  size_t threads = 4;

  /// Concurrent long-poll watches; more get 503 with Retry-After. Each costs
  /// one parked connection, not a thread. Default 128.
  size_t max_watchers = 128;

  /// Upper bound of a watch's `wait` parameter (longer requests are capped).
  /// Default 60 s.
  duration max_watch_wait = std::chrono::seconds{60};

  /// `wait` when a watch request names none. Default 10 s.
  duration default_watch_wait = std::chrono::seconds{10};

  /// Upper bound of POST /v1/join?wait=. Default 60 s.
  duration max_join_wait = std::chrono::seconds{60};

  /// Upper bound of PUT / DELETE /v1/kv/{key}?replicas=K&timeout= (the
  /// metadata layer's max_write_timeout). A worker waits this long at most.
  /// Default 60 s.
  duration max_write_wait = std::chrono::seconds{60};

  /// `timeout` of a replicated write that names none. Default 5 s.
  duration default_write_wait = std::chrono::seconds{5};

  /// Replicated writes (replicas > 1) that may wait for their replicas at
  /// once, each holding a worker thread up to its timeout; more get 503
  /// with Retry-After, so the other requests (health probes included)
  /// always keep a worker. Clamped to threads - 1 (at least 1). Default 2.
  size_t max_replica_waits = 2;

  // -- event stream (GET /v1/events) ------------------------------------------

  /// The node's event log the stream reads (not owned; must outlive the
  /// server). None: GET /v1/events answers 503.
  event_log* events = nullptr;

  /// Concurrent event streams; more get 503 with Retry-After. Each costs one
  /// connection and at most `event_stream_buffer` bytes. Default 32.
  size_t max_event_streams = 32;

  /// Bytes of formatted events a stream holds that the client has not read
  /// yet. When it is full the stream stops taking events from the log; a
  /// reader that falls so far behind that the log's ring drops the events
  /// it has not read is cut off (a last "cutoff" line), and one that reads
  /// nothing for `write_timeout` is disconnected. Default 256 KiB.
  size_t event_stream_buffer = 256 * 1024;

  /// More metrics /metrics appends (not owned; must outlive the server),
  /// e.g. the event handler runner's.
  std::vector<const metrics_registry*> extra_metrics;

  /// A stream with nothing to send writes a heartbeat this often, so that
  /// clients and the server notice a dead peer. Default 15 s.
  duration event_heartbeat = std::chrono::seconds{15};

  // -- protection (docs/SECURITY.md) ------------------------------------------

  /// Bearer token; empty: none. When set, every mutating request must carry
  /// "Authorization: Bearer <token>" (401 otherwise). Default none.
  std::string token;

  /// With a token: reads need it too, except /v1/health and
  /// /v1/health/ready (probes). Default false.
  bool token_reads = false;

  /// Host names (besides IP literals and "localhost") a request may name in
  /// its Host header; others get 403 (DNS-rebinding protection). Default
  /// none.
  std::vector<std::string> allowed_hosts;

  /// PEM certificate chain and private key: serve HTTPS instead of HTTP
  /// (both or neither). Default: plain HTTP.
  std::string tls_cert_pem;
  std::string tls_key_pem;

  // -- behaviour ----------------------------------------------------------------

  /// Serve GET/POST /v1/faults (in-process fault injection). When false those
  /// paths answer 404 as if they did not exist. Default false.
  bool fault_injection = false;

  /// The node was started with seeds: /v1/health/ready reports "joining"
  /// until a peer is alive. Without seeds (and without POST /v1/join) a node
  /// alone is ready ("standalone"). Default false.
  bool expect_peers = false;

  /// Name used in log lines. Default empty.
  std::string node_name;
};

/// The admin HTTP server. start() binds and serves on its own threads;
/// stop() (or the destructor) ends them. Single use: start it at most once.
/// The backend must outlive the server.
class admin_server {
 public:
  admin_server(admin_backend& backend, admin_config cfg);
  ~admin_server();

  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  /// Binds to `host` (numeric IP without brackets, e.g. "127.0.0.1", "::1")
  /// and `port` (0 picks a free one) and starts serving. Returns an empty
  /// string on success or a one-line reason (the port is in use, the TLS
  /// key does not load, ...).
  std::string start(const std::string& host, uint16_t port);

  /// The bound port after a successful start(), else 0.
  uint16_t port() const noexcept;

  /// Stops accepting work, answers parked long-polls (within ~0.1 s), waits
  /// for running backend calls, flushes their responses and closes every
  /// connection. Idempotent.
  void stop();

  /// Long-polls parked right now.
  size_t watchers() const noexcept;

  /// Blocks until at least `n` long-polls are parked at once (false after
  /// `timeout`): lets tests act while a long-poll is in progress.
  bool await_watchers(size_t n, duration timeout) const;

  /// Event streams open right now.
  size_t event_streams() const noexcept;

  /// Blocks until at least `n` event streams are open (false
  /// after `timeout`), for tests.
  bool await_event_streams(size_t n, duration timeout) const;

  /// The server's own counters and gauges (requests by status code,
  /// refusals by rule, connections closed by deadline, open connections,
  /// parked watches); /metrics appends them.
  const metrics_registry& stats() const noexcept {
    return stats_;
  }

  struct impl;

 private:
  admin_backend& backend_;
  admin_config cfg_;
  metrics_registry stats_;
  std::unique_ptr<impl> impl_;
  std::mutex lifecycle_mtx_;
  bool started_ = false;
  bool stopped_ = false;
};

/// Percent-decodes `in` (no '+' to space). Returns false on a malformed
/// escape ("%zz", "%4").
bool percent_decode(const std::string& in, std::string& out);

/// Percent-encodes every byte except unreserved ones (A-Z a-z 0-9 - . _ ~)
/// and '/', for building /v1/kv/{key} paths and query values.
std::string percent_encode_key(const std::string& key);

/// Parses a watch wait: "500ms", "10s", "2m" or a plain number of seconds
/// (at most 9 digits; values above one day are clamped to one day).
bool parse_wait(const std::string& text, duration& out);

/// Standard base64 with padding (RFC 4648), as Consul returns values.
std::string base64_encode(const std::string& in);

/// Decodes standard base64 (padding required, no whitespace); false when
/// `in` is not valid base64.
bool base64_decode(const std::string& in, std::string& out);

} // namespace pekonode::node
