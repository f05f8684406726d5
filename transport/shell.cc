#include "transport/shell.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstring>

#include "transport/address.h"

namespace pekonode::transport::detail {

bool log_limiter::allow(time_point now, uint64_t& suppressed) {
  if (!started_) {
    started_ = true;
    last_refill_ = now;
  } else if (interval_.count() > 0 && now - last_refill_ >= interval_) {
    auto periods = static_cast<size_t>((now - last_refill_) / interval_);
    tokens_ = std::min(burst_, tokens_ + periods);
    last_refill_ += interval_ * static_cast<int64_t>(periods);
  }
  if (tokens_ == 0) {
    ++suppressed_;
    return false;
  }
  --tokens_;
  suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

shell::shell(wire w, uint64_t fault_seed)
  : wire_(std::move(w)), fault_rng_(fault_seed),
    limiter_(5, std::chrono::seconds(1)) {
}

void shell::set_faults(const faults& f) {
  // NaN compares false both ways: treat it as 0 rather than clamping to it.
  drop_rate_ = f.drop_rate > 0.0 ? std::min(f.drop_rate, 1.0) : 0.0;
  blocked_.clear();
  for (auto& b : f.blocked) {
    auto canon = canonicalize(b);
    blocked_.insert(canon ? *canon : b);
  }
  LOG(INFO) << "transport " << wire_.config().name << ": fault injection: drop "
            << drop_rate_ << ", " << blocked_.size() << " blocked peers";
}

faults shell::current_faults() const {
  return faults{drop_rate_, {blocked_.begin(), blocked_.end()}};
}

void shell::subscribe(channel chan, inbound_sink_actor who) {
  subs_[chan] = std::move(who);
}

void shell::count_drop(time_point now, const address& peer,
                       std::string_view reason, uint64_t n,
                       std::string_view detail) {
  drops_.add(reason, n);
  warn(now, true, peer, reason, n, detail);
}

wire_batch shell::prepare(time_point now, const outbound_list& out) {
  auto batch = wire_.prepare(out);
  if (batch.dropped > 0)
    count_unsent(now, "(local)", "too_large", batch.dropped,
                 "outbound message exceeds the codec limit");
  return batch;
}

void shell::count_unsent(time_point now, const address& peer,
                         std::string_view reason, uint64_t n,
                         std::string_view detail) {
  stats_.messages_unsent += n;
  warn(now, false, peer, reason, n, detail);
}

void shell::warn(time_point now, bool inbound, const address& peer,
                 std::string_view reason, uint64_t n,
                 std::string_view detail) {
  uint64_t suppressed = 0;
  if (limiter_.allow(now, suppressed)) {
    LOG(WARNING) << "transport " << wire_.config().name
                 << (inbound ? ": dropped " : ": could not send ") << n
                 << (inbound ? " from " : " to ") << peer << " (" << reason
                 << (detail.empty() ? "" : ": ") << detail << ")"
                 << (suppressed > 0 ? ", " + std::to_string(suppressed)
                                        + " similar lines suppressed"
                                    : std::string{});
  }
}

void shell::receive(time_point now, const address& from,
                    std::string_view bytes, std::vector<delivery>& out) {
  ++stats_.datagrams_in;
  stats_.bytes_in += bytes.size();
  if (drop_rate_ > 0.0 || !blocked_.empty()) {
    bool drop = blocked_.count(from) > 0;
    if (!drop && drop_rate_ > 0.0)
      drop = std::uniform_real_distribution<double>{0.0, 1.0}(fault_rng_) < drop_rate_;
    if (drop) {
      drops_.add("fault_injected"); // deliberate: not logged
      return;
    }
  }
  auto env = wire_.receive(bytes);
  if (!env) {
    count_drop(now, from, to_string(env.code), 1, env.message);
    return;
  }
  if (wire_.frame().encrypted()) {
    // receive() succeeded, so the frame holds a full nonce after byte 0.
    uint64_t prefix = 0;
    std::memcpy(&prefix, bytes.data() + 1, sizeof(prefix));
    if (replays_.seen(prefix)) {
      count_drop(now, from, to_string(ec::replayed), 1,
                 "nonce seen in a recent datagram");
      return;
    }
  }
  for (auto& m : env->messages) {
    auto sub = subs_.find(m.chan);
    if (sub == subs_.end() || !sub->second) {
      count_drop(now, from, to_string(ec::no_subscriber), 1,
                 "channel " + to_string(m.chan));
      continue;
    }
    ++stats_.messages_in;
    VLOG(2) << "transport " << wire_.config().name << ": " << m.body.size()
            << " bytes on channel " << static_cast<uint32_t>(m.chan) << " from "
            << env->sender << " at " << from;
    out.push_back(delivery{sub->second, inbound{from, env->sender, m.chan,
                                                std::move(m.body), now}});
  }
}

stats shell::snapshot() const {
  auto res = stats_;
  res.drops = drops_.snapshot();
  return res;
}

} // namespace pekonode::transport::detail
