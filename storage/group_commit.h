#pragma once
// Group commit over a durable store: callers on any thread submit write
// batches with a completion callback; one committer thread takes every
// batch queued while the previous commit was being fsynced and commits them
// in one transaction, so N concurrent writers cost about one fsync, not N.
// Each callback runs once its batch is durable (or failed): the
// acknowledgement rule is "no ack before fsync". Not a cache: nothing is
// readable from here.
//
//   submit ──> queue ──> committer: take all (<= max_group_bytes) ──>
//              BEGIN; batch 1..k; COMMIT (one fsync) ──> done(status) x k

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "storage/error.h"
#include "storage/store.h"

namespace pekonode::storage {

struct group_options {
  /// A commit takes queued batches until their bytes reach this (at least
  /// one batch). Larger groups amortise the fsync further but delay the
  /// first ack of the group. Default 8 MiB.
  size_t max_group_bytes = 8 * 1024 * 1024;
  /// Bound on bytes waiting in the queue; a submit beyond it completes at
  /// once with ec::overloaded (backpressure instead of unbounded memory).
  /// Default 64 MiB.
  size_t max_queued_bytes = 64 * 1024 * 1024;
};

struct group_stats {
  uint64_t commits = 0;  ///< transactions (fsyncs)
  uint64_t batches = 0;  ///< batches acknowledged durable
  uint64_t failed = 0;   ///< batches completed with an error
  uint64_t max_group = 0;///< most batches in one commit
};

class group_commit {
public:
  /// Called once per batch, on the committer thread (or on the submitting
  /// thread for an immediate refusal): keep it short, e.g. send a message.
  using callback = std::function<void(const status&)>;

  /// Starts the committer thread. The store must outlive this object and
  /// must not be used by anyone else meanwhile (export_snapshot excepted).
  explicit group_commit(store& s, group_options opts = {});

  /// Commits everything already submitted, then stops the thread.
  ~group_commit();

  group_commit(const group_commit&) = delete;
  group_commit& operator=(const group_commit&) = delete;

  /// Queues `b`; `done` runs when it is durable or failed. Batches commit in
  /// submission order. A batch failing store::validate completes with
  /// ec::invalid_argument alone; an engine failure (e.g. ec::full) fails
  /// every batch of its group. Thread-safe.
  void submit(write_batch b, callback done);

  group_stats stats() const;

private:
  struct item {
    write_batch batch;
    callback done;
  };
  void run();

  store& store_;
  group_options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<item> queue_;
  size_t queued_bytes_ = 0;
  bool stopping_ = false;
  group_stats stats_;
  std::thread thread_;
};

} // namespace pekonode::storage
