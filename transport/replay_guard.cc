#include "transport/replay_guard.h"

#include <algorithm>
#include <utility>

namespace pekonode::transport {

namespace {

std::string state_key(std::string_view sender, uint64_t epoch) {
  std::string k;
  k.reserve(sender.size() + 9);
  for (int i = 0; i < 8; ++i)
    k.push_back(static_cast<char>((epoch >> (8 * i)) & 0xff));
  k.push_back('/');
  k.append(sender);
  return k;
}

} // namespace

replay_guard::replay_guard(replay_config cfg, uint64_t start_ms)
  : cfg_(cfg), floor_ms_(start_ms) {
  cfg_.window = std::clamp<uint64_t>(cfg_.window, 64, uint64_t{1} << 20);
  cfg_.window = (cfg_.window + 63) / 64 * 64;
  cfg_.max_senders = std::max<size_t>(cfg_.max_senders, 1);
}

bool replay_guard::test_and_set(sender_state& st, uint64_t seq) {
  const uint64_t w = cfg_.window;
  auto bit = [w](uint64_t s) {
    auto i = s % w;
    return std::pair<size_t, uint64_t>{static_cast<size_t>(i / 64),
                                       uint64_t{1} << (i % 64)};
  };
  if (seq > st.max_seq) {
    if (seq - st.max_seq >= w) {
      std::fill(st.bits.begin(), st.bits.end(), 0);
    } else {
      for (uint64_t s = st.max_seq + 1; s < seq; ++s) {
        auto [word, mask] = bit(s);
        st.bits[word] &= ~mask;
      }
    }
    auto [word, mask] = bit(seq);
    st.bits[word] |= mask;
    st.max_seq = seq;
    return true;
  }
  if (st.max_seq - seq >= w)
    return false; // below the window: refused, never admitted
  auto [word, mask] = bit(seq);
  if ((st.bits[word] & mask) != 0)
    return false;
  st.bits[word] |= mask;
  return true;
}

void replay_guard::evict_one() {
  auto victim = states_.end();
  for (auto i = states_.begin(); i != states_.end(); ++i)
    if (victim == states_.end()
        || i->second.newest_ms < victim->second.newest_ms)
      victim = i;
  if (victim == states_.end())
    return;
  // Every datagram the evicted state took was sealed at or before
  // newest_ms: new states refuse those times, so none comes back.
  floor_ms_ = std::max(floor_ms_, victim->second.newest_ms + 1);
  states_.erase(victim);
  ++evictions_;
}

replay_verdict replay_guard::check(std::string_view sender, uint64_t epoch,
                                   uint64_t seq, uint64_t sent_ms,
                                   uint64_t now_ms) {
  const uint64_t skew = cfg_.max_skew_ms;
  if (sent_ms > now_ms && sent_ms - now_ms > skew)
    return replay_verdict::stale;
  if (now_ms > sent_ms && now_ms - sent_ms > skew)
    return replay_verdict::stale;
  if (seq == 0)
    return replay_verdict::replayed; // senders count from 1
  auto key = state_key(sender, epoch);
  auto i = states_.find(key);
  if (i == states_.end()) {
    if (sent_ms < floor_ms_)
      return replay_verdict::stale;
    if (states_.size() >= cfg_.max_senders) {
      evict_one();
      if (sent_ms < floor_ms_)
        return replay_verdict::stale;
    }
    sender_state st;
    st.floor_ms = floor_ms_;
    st.bits.assign(static_cast<size_t>(cfg_.window / 64), 0);
    i = states_.emplace(std::move(key), std::move(st)).first;
  }
  auto& st = i->second;
  if (sent_ms < st.floor_ms)
    return replay_verdict::stale;
  if (!test_and_set(st, seq))
    return replay_verdict::replayed;
  st.newest_ms = std::max(st.newest_ms, sent_ms);
  return replay_verdict::accept;
}

} // namespace pekonode::transport
