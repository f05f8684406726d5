#include "metadata/bulk_sender.h"

#include <algorithm>

#include "metadata/config.h"

namespace pekonode::metadata {

void bulk_sender::start(time_point now) {
  auto rate = static_cast<double>(rate_);
  auto burst = bulk_burst_bytes(rate_, packet_);
  bucket_ = token_bucket(rate, burst, now, static_cast<double>(packet_) * 4);
}

bulk_enqueue bulk_sender::push(const address& to, const std::string& key) {
  if (queue_.size() >= max_queue_)
    return bulk_enqueue::full;
  if (!queued_pushes_.emplace(to, key).second)
    return bulk_enqueue::duplicate;
  queue_.push_back(item{to, false, chunk_job{key, {}, 0, 0}});
  return bulk_enqueue::queued;
}

bulk_enqueue bulk_sender::chunk(const address& to, chunk_job c) {
  if (queue_.size() >= max_queue_)
    return bulk_enqueue::full;
  if (!queued_chunks_.emplace(to, c.key, c.index).second)
    return bulk_enqueue::duplicate;
  queue_.push_back(item{to, true, std::move(c)});
  return bulk_enqueue::queued;
}

void bulk_sender::drain(time_point now, bulk_encoder& enc) {
  bucket_.refill(now);
  auto packet = static_cast<double>(packet_);
  while (!queue_.empty() && bucket_.tokens() >= packet) {
    auto first = std::move(queue_.front());
    queue_.pop_front();
    if (first.is_chunk) {
      queued_chunks_.erase({first.to, first.job.key, first.job.index});
      bucket_.spend(static_cast<double>(enc.send_chunk(first.to, first.job)));
      continue;
    }
    queued_pushes_.erase({first.to, first.job.key});
    enc.add_push(first.job.key); // alone it always fits
    while (!queue_.empty() && !queue_.front().is_chunk
           && queue_.front().to == first.to) {
      auto& next = queue_.front();
      if (!enc.add_push(next.job.key))
        break; // packet full: next stays first in line
      queued_pushes_.erase({next.to, next.job.key});
      queue_.pop_front();
    }
    bucket_.spend(static_cast<double>(enc.send_push(first.to)));
  }
}

time_point bulk_sender::next_wakeup() const {
  if (queue_.empty())
    return time_point::max();
  return bucket_.when_available(static_cast<double>(packet_));
}

} // namespace pekonode::metadata
