#pragma once
// The node's admin HTTP API (see DESIGN.md "Interface contract"): routing,
// JSON, status codes, body limits and long-poll watches on cpp-httplib. It
// holds no node state; every request is answered by an admin_backend.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/types.h"
#include "node/admin_backend.h"
#include "node/metrics.h"

namespace pekonode::node {

/// Knobs of the admin server. Defaults suit an operator and a chaos harness
/// polling a handful of nodes; none of them changes the wire protocol.
struct admin_config {
  /// Largest value the metadata store accepts (DESIGN.md targets 512 KiB).
  /// Bodies up to max_value_bytes + body_slack_bytes reach the backend, which
  /// rejects values that are too large with a 400 and its own reason; larger
  /// bodies are cut off by the server with 413 before being buffered whole.
  /// Default 512 KiB.
  size_t max_value_bytes = 512 * 1024;

  /// Headroom above max_value_bytes, so the backend (not the HTTP layer)
  /// explains a slightly oversized value. Default 64 KiB.
  size_t body_slack_bytes = 64 * 1024;

  /// Longest key accepted in /v1/kv/{key} after percent-decoding; longer is a
  /// 400. Default 1024 bytes.
  size_t max_key_bytes = 1024;

  /// Worker threads serving requests. Each open keep-alive connection and
  /// each long-poll occupies one while it lasts; the admin API is for
  /// operators and scripts, not for traffic. Default 4.
  size_t threads = 4;

  /// Concurrent long-poll watches; more get 503 with Retry-After. Keep it
  /// below `threads` so a watcher never starves health checks. Default 2.
  size_t max_watchers = 2;

  /// Upper bound of a watch's `wait` parameter (longer requests are capped).
  /// Default 60 s.
  duration max_watch_wait = std::chrono::seconds{60};

  /// `wait` when a watch request names none. Default 10 s.
  duration default_watch_wait = std::chrono::seconds{10};

  /// Serve GET/POST /v1/faults (in-process fault injection). When false those
  /// paths answer 404 as if they did not exist. Default false.
  bool fault_injection = false;
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
  /// string on success or a one-line reason (e.g. the port is in use).
  std::string start(const std::string& host, uint16_t port);

  /// The bound port after a successful start(), else 0.
  uint16_t port() const noexcept {
    return port_;
  }

  /// Stops accepting, wakes long-polls (within ~0.5 s) and joins the
  /// server threads. Idempotent.
  void stop();

  /// The server's own counters (requests by status code); the node appends
  /// them to /metrics automatically.
  const metrics_registry& stats() const noexcept {
    return stats_;
  }

 private:
  struct impl;

  admin_backend& backend_;
  admin_config cfg_;
  metrics_registry stats_;
  std::unique_ptr<impl> impl_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> watchers_{0};
  std::atomic<bool> listening_done_{false};
  std::mutex lifecycle_mtx_;
  uint16_t port_ = 0;
  bool started_ = false;
};

/// Percent-decodes `in` (no '+' to space). Returns false on a malformed
/// escape ("%zz", "%4").
bool percent_decode(const std::string& in, std::string& out);

/// Percent-encodes every byte except unreserved ones (A-Z a-z 0-9 - . _ ~)
/// and '/', for building /v1/kv/{key} paths.
std::string percent_encode_key(const std::string& key);

/// Parses a watch wait: "500ms", "10s", "2m" or a plain number of seconds
/// (at most 9 digits; values above one day are clamped to one day).
bool parse_wait(const std::string& text, duration& out);

} // namespace pekonode::node
