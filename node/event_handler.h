#pragma once
// Event handlers as Serf has them: programs the node runs for the events of
// its event log (node/event_log.h), chosen by `--event_handler=
// [type[,type...][:filter]=]PROGRAM`. They run on the runner's own threads,
// never on the actor threads: each with a timeout (SIGTERM, then SIGKILL
// to its whole process group), a bound on how many run at once and a
// bounded queue whose overflow is dropped and counted. A failing or hanging
// handler never stalls the node. docs/ARCHITECTURE.md "Event handlers"
// lists the environment a handler gets.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "node/event_log.h"
#include "node/metrics.h"

namespace pekonode::node {

/// One --event_handler.
struct handler_spec {
  std::string text;                ///< as given, for logs
  std::vector<std::string> types;  ///< empty: every event (see event_filter)
  /// "": no filter. Member events: a regular expression (ECMAScript) the
  /// whole member name must match; key events: a key prefix; user events
  /// and queries: their exact name.
  std::string filter;
  std::shared_ptr<const std::regex> name_re; ///< compiled member filter
  std::string program;             ///< run as /bin/sh -c PROGRAM

  /// Does this handler take `ev`?
  bool matches(const event_record& ev) const;
};

/// Longest PROGRAM, and longest filter.
constexpr size_t max_handler_program_bytes = 4096;
constexpr size_t max_handler_filter_bytes = 256;

/// Parses "[type[,type...][:filter]=]PROGRAM". The text before the first
/// '=' is a type spec only if it looks like one (lower-case letters, '-',
/// ',', '*', then optionally ':' and a filter without spaces); otherwise
/// the whole text is the program (so "FOO=1 script.sh" is a program).
/// Returns "" or one line naming the problem.
std::string parse_handler_spec(const std::string& text, handler_spec& out);

/// Parses a newline-separated list of specs (the flag's form when it is
/// given several times); empty lines are skipped.
std::string parse_handler_list(const std::string& text,
                               std::vector<handler_spec>& out);

/// The values of a repeatable flag in argv ("--name=V", "-name=V",
/// "--name V"), in order, up to a "--".
std::vector<std::string> repeated_flag_values(int argc, char** argv,
                                              const std::string& name);

/// Knobs of the runner.
struct handler_config {
  /// A handler still running after this is sent SIGTERM (its process
  /// group), and SIGKILL `kill_grace` later. Default 30 s.
  std::chrono::milliseconds timeout = std::chrono::seconds{30};
  /// Between SIGTERM and SIGKILL. Default 3 s.
  std::chrono::milliseconds kill_grace = std::chrono::seconds{3};
  /// Handlers running at once (threads of the runner). Default 4.
  size_t max_concurrent = 4;
  /// Runs waiting for a free slot; more are dropped and counted
  /// (pekonode_event_handler_dropped_total). Default 256.
  size_t queue_size = 256;
  /// Bytes of stdout and of stderr kept per run (the rest is read and
  /// discarded, so a chatty handler cannot block on its pipe). Default
  /// 64 KiB.
  size_t output_limit = 64 * 1024;
  /// This node, for PEKONODE_SELF_NAME / PEKONODE_SELF_ADDR.
  std::string self_name;
  std::string self_addr;
};

/// How one run ended.
struct handler_result {
  std::string handler;      ///< the spec's text
  uint64_t event_index = 0;
  std::string event_type;
  bool started = false;     ///< false: the program could not be spawned
  bool timed_out = false;   ///< killed for running past the timeout
  int exit_code = -1;       ///< exit status, -1 if killed by a signal
  int term_signal = 0;      ///< the signal that ended it, 0 if none
  std::string out;          ///< stdout, at most output_limit bytes
  std::string err;          ///< stderr, at most output_limit bytes
  bool out_truncated = false;
  bool err_truncated = false;
  std::chrono::milliseconds took{0};
  std::string error;        ///< why it did not start

  bool ok() const {
    return started && !timed_out && exit_code == 0;
  }
};

/// The environment a handler gets for `ev` (without the inherited one):
/// "NAME=value" strings, values without NUL bytes.
std::vector<std::string> handler_environment(const event_record& ev,
                                             const handler_config& cfg);

/// What a handler reads on stdin for `ev`: a user event's or query's
/// payload bytes (the string field "payload"), else the event's JSON line.
std::string handler_stdin(const event_record& ev);

/// Runs `program` under /bin/sh -c in its own process group with `env`
/// added to the node's environment and `input` on stdin; blocks until it
/// ends or is killed (timeout, or `cancel` turning true). Thread-safe.
handler_result run_handler_process(const std::string& program,
                                   const std::vector<std::string>& env,
                                   const std::string& input,
                                   const handler_config& cfg,
                                   const std::atomic<bool>& cancel);

/// Runs the handlers for events: submit() queues, the runner's threads run.
class handler_runner {
 public:
  using done_fn = std::function<void(const handler_result&)>;

  explicit handler_runner(handler_config cfg);
  ~handler_runner();

  handler_runner(const handler_runner&) = delete;
  handler_runner& operator=(const handler_runner&) = delete;

  /// Replaces the handlers (SIGHUP reload); runs already queued or running
  /// keep the handler they were queued with.
  void set_handlers(std::vector<handler_spec> handlers);

  /// The current handlers' texts.
  std::vector<std::string> handlers() const;

  /// Queues one run per matching handler; never blocks (a full queue drops
  /// the run and counts it). Call it from the event log's listener.
  void submit(const event_record& ev);

  /// Queues the matching handlers like submit(), and calls `done` with
  /// each one's result (its stdout is the answer to a query) on a runner
  /// thread. Returns how many were queued (dropped ones are not called).
  size_t run(const event_record& ev, done_fn done);

  /// Kills running handlers, drops queued ones and joins the threads.
  /// Idempotent.
  void stop();

  /// Blocks until nothing is queued or running (false after `timeout`).
  bool await_idle(std::chrono::milliseconds timeout) const;

  /// Runs in progress now.
  size_t running() const;

  /// pekonode_event_handler_* counters and gauges for /metrics.
  const metrics_registry& stats() const noexcept {
    return stats_;
  }

 private:
  struct job {
    std::shared_ptr<const handler_spec> spec;
    event_record ev;
    done_fn done;
  };

  size_t enqueue(const event_record& ev, const done_fn& done);
  void work();
  void finish(const job& j, const handler_result& r);

  handler_config cfg_;
  metrics_registry stats_;
  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::vector<std::shared_ptr<const handler_spec>> handlers_;
  std::deque<job> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};
  std::vector<std::thread> threads_;
};

} // namespace pekonode::node
