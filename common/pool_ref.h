#pragma once
// The reference counting shared by the process-wide pools of immutable
// values (interned texts, interned tag sets): handles drop references
// without the pool's lock, except the last one, which goes under the lock
// where lookups also take references, so a value found in the pool's index
// is never freed under the finder.

#include <atomic>
#include <cstdint>
#include <mutex>

namespace pekonode::detail {

/// Drops one reference from `refs`. When it was the last, calls `unindex`
/// under `mtx` (to take the value out of its pool's index) and returns
/// true: the caller then frees the value. Otherwise returns false.
template <class Unindex>
bool drop_pooled_ref(std::atomic<uint32_t>& refs, std::mutex& mtx,
                     Unindex&& unindex) noexcept {
  auto r = refs.load(std::memory_order_relaxed);
  while (r > 1) {
    if (refs.compare_exchange_weak(r, r - 1, std::memory_order_acq_rel))
      return false;
  }
  std::lock_guard<std::mutex> guard(mtx);
  if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return false;
  unindex();
  return true;
}

} // namespace pekonode::detail
