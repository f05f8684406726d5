#include "storage/group_commit.h"

#include <vector>

namespace pekonode::storage {

group_commit::group_commit(store& s, group_options opts)
  : store_(s), opts_(opts), thread_([this] { run(); }) {
}

group_commit::~group_commit() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void group_commit::submit(write_batch b, callback done) {
  // Validation happens here, so a bad batch never fails its group.
  if (auto st = store_.validate(b); !st.ok()) {
    {
      std::lock_guard<std::mutex> g(mu_);
      ++stats_.failed;
    }
    done(st);
    return;
  }
  status refused;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stopping_) {
      refused = status::failure(ec::closed, store_.dir().error("committer is stopping"));
    } else if (queued_bytes_ > 0 && queued_bytes_ + b.bytes() > opts_.max_queued_bytes) {
      refused = status::failure(ec::overloaded,
                                store_.dir().error("write queue full ("
                                                   + std::to_string(queued_bytes_)
                                                   + " bytes waiting)"));
    } else {
      queued_bytes_ += b.bytes();
      queue_.push_back(item{std::move(b), std::move(done)});
    }
    if (!refused.ok())
      ++stats_.failed;
  }
  if (!refused.ok()) {
    done(refused);
    return;
  }
  cv_.notify_one();
}

group_stats group_commit::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

void group_commit::run() {
  std::vector<item> group;
  std::vector<const write_batch*> batches;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return; // stopping and drained
      size_t bytes = 0;
      while (!queue_.empty()
             && (group.empty() || bytes + queue_.front().batch.bytes() <= opts_.max_group_bytes)) {
        bytes += queue_.front().batch.bytes();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_bytes_ -= bytes;
    }
    batches.clear();
    for (auto& it : group)
      batches.push_back(&it.batch);
    status st = store_.commit(batches);
    {
      std::lock_guard<std::mutex> g(mu_);
      if (st.ok()) {
        ++stats_.commits;
        stats_.batches += group.size();
        stats_.max_group = std::max<uint64_t>(stats_.max_group, group.size());
      } else {
        stats_.failed += group.size();
      }
    }
    for (auto& it : group)
      it.done(st);
    group.clear();
  }
}

} // namespace pekonode::storage
