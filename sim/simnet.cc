#include "sim/simnet.h"

#include <algorithm>
#include <utility>

namespace pekonode::sim {

namespace {

const simnet::node_stats zero_stats{};

} // namespace

const char* to_string(drop_reason r) {
  switch (r) {
    case drop_reason::loss:
      return "loss";
    case drop_reason::burst_loss:
      return "burst_loss";
    case drop_reason::cut:
      return "cut";
    case drop_reason::no_route:
      return "no_route";
    case drop_reason::crashed:
      return "crashed";
  }
  return "unknown";
}

simnet::simnet(uint64_t seed, time_point start) : rng_(seed), now_(start) {
  queue_.reserve(1024);
  outbox_.reserve(64);
}

// -- randomness ---------------------------------------------------------------

// Own draws instead of std:: distributions: their algorithms differ between
// standard libraries, and a (scenario, seed) pair must replay everywhere.
double simnet::uniform01() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

duration simnet::draw_delay(const link_faults& f) {
  auto lo = f.delay_min.count();
  auto hi = f.delay_max.count();
  if (lo < 0)
    lo = 0;
  if (hi <= lo)
    return duration{lo};
  auto span = static_cast<uint64_t>(hi - lo) + 1;
  // Lemire's multiply-shift: bias below 2^-64 * span, irrelevant here.
  auto r = static_cast<uint64_t>(
    (static_cast<unsigned __int128>(rng_()) * span) >> 64);
  return duration{lo + static_cast<duration::rep>(r)};
}

// -- slots and the event queue ------------------------------------------------

simnet::slot_id simnet::intern(const address& addr) {
  auto it = index_.find(addr);
  if (it != index_.end())
    return it->second;
  auto id = static_cast<slot_id>(slots_.size());
  slots_.emplace_back();
  slots_.back().addr = addr;
  index_.emplace(addr, id);
  return id;
}

const simnet::slot_id* simnet::find(const address& addr) const {
  auto it = index_.find(addr);
  return it == index_.end() ? nullptr : &it->second;
}

void simnet::push(time_point at, slot_id target, event_kind kind,
                  uint32_t pkt) {
  queue_.push_back(event{at, next_seq_++, target, kind, pkt});
  std::push_heap(queue_.begin(), queue_.end(), event_after{});
}

void simnet::reschedule(slot_id s, bool just_polled) {
  auto& sl = slots_[s];
  if (sl.node == nullptr || sl.stalled_until > now_)
    return; // detached, or the stall end will reschedule
  auto want = sl.node->next_wakeup();
  if (want == time_point::max()) {
    sl.wakeup_seq = 0;
    sl.wakeup_at = time_point::max();
    return;
  }
  if (want <= now_)
    want = just_polled ? now_ + min_repoll_interval : now_;
  if (sl.wakeup_seq != 0 && sl.wakeup_at == want)
    return; // already scheduled for exactly this time
  sl.wakeup_at = want;
  sl.wakeup_seq = next_seq_; // push() takes this seq
  push(want, s, event_kind::wakeup, 0);
}

// -- membership ---------------------------------------------------------------

void simnet::attach(const address& addr, sim_node* node) {
  if (node == nullptr) {
    detach(addr);
    return;
  }
  auto s = intern(addr);
  if (slots_[s].node != nullptr)
    detach(addr);
  auto& sl = slots_[s];
  sl.node = node;
  ++sl.epoch;
  sl.wakeup_seq = 0;
  sl.wakeup_at = time_point::max();
  sl.stalled_until = time_point::min();
  reschedule(s, false);
}

void simnet::detach(const address& addr) {
  auto p = find(addr);
  if (p == nullptr)
    return;
  auto& sl = slots_[*p];
  if (sl.node == nullptr)
    return;
  sl.node = nullptr;
  ++sl.epoch; // deliveries in flight now carry a stale epoch
  sl.wakeup_seq = 0;
  sl.wakeup_at = time_point::max();
  sl.stalled_until = time_point::min();
  auto queued = std::move(sl.stall_queue);
  sl.stall_queue.clear();
  for (auto idx : queued)
    drop_packet(idx, drop_reason::crashed);
}

bool simnet::attached(const address& addr) const {
  auto p = find(addr);
  return p != nullptr && slots_[*p].node != nullptr;
}

void simnet::wake(const address& addr) {
  if (auto p = find(addr))
    reschedule(*p, false);
}

// -- time ---------------------------------------------------------------------

void simnet::run_until(time_point t) {
  while (!queue_.empty() && queue_.front().at <= t) {
    std::pop_heap(queue_.begin(), queue_.end(), event_after{});
    auto ev = queue_.back();
    queue_.pop_back();
    now_ = ev.at;
    ++events_processed_;
    switch (ev.kind) {
      case event_kind::deliver:
        on_deliver_event(ev);
        break;
      case event_kind::wakeup:
        on_wakeup_event(ev);
        break;
      case event_kind::stall_end:
        on_stall_end_event(ev);
        break;
    }
  }
  if (t > now_)
    now_ = t;
}

void simnet::run_for(duration d) {
  run_until(later(d));
}

time_point simnet::later(duration d) const {
  // Saturates instead of overflowing: run_for(duration::max()) is legal.
  if (d <= duration::zero())
    return now_;
  if (d > time_point::max() - now_)
    return time_point::max();
  return now_ + d;
}

// -- packets ------------------------------------------------------------------

uint32_t simnet::alloc_packet() {
  ++in_flight_count_;
  if (!free_packets_.empty()) {
    auto idx = free_packets_.back();
    free_packets_.pop_back();
    return idx;
  }
  packets_.emplace_back();
  return static_cast<uint32_t>(packets_.size() - 1);
}

void simnet::free_packet(uint32_t idx) {
  --in_flight_count_;
  std::string{}.swap(packets_[idx].payload); // the next user moves one in
  free_packets_.push_back(idx);
}

void simnet::dropped(slot_id from, const address& to, channel chan,
                     const std::string& payload, drop_reason why) {
  ++slots_[from].stats.dropped;
  if (on_drop)
    on_drop(slots_[from].addr, to, chan, payload, why, now_);
}

void simnet::drop_packet(uint32_t idx, drop_reason why) {
  const auto& pk = packets_[idx];
  dropped(pk.from, slots_[pk.to].addr, pk.chan, pk.payload, why);
  free_packet(idx);
}

bool simnet::cut(slot_id from, slot_id to) const {
  if (partitioned_) {
    auto gf = slots_[from].group;
    auto gt = slots_[to].group;
    if (gf != 0 && gt != 0 && gf != gt)
      return true;
  }
  return !blocked_.empty() && blocked_.count(link_key(from, to)) != 0;
}

const link_faults& simnet::faults_of(slot_id from, slot_id to) const {
  if (!link_faults_.empty()) {
    auto it = link_faults_.find(link_key(from, to));
    if (it != link_faults_.end())
      return it->second;
  }
  return default_faults_;
}

bool simnet::burst_drop(slot_id from, slot_id to) {
  if (ge_enter_ <= 0 && bad_links_.empty())
    return false;
  auto key = link_key(from, to);
  auto it = bad_links_.find(key);
  bool bad = it != bad_links_.end();
  // Step the chain once per datagram, then judge the datagram by the state.
  if (bad) {
    if (uniform01() < ge_leave_) {
      bad_links_.erase(it);
      bad = false;
    }
  } else if (uniform01() < ge_enter_) {
    bad_links_.insert(key);
    bad = true;
  }
  return bad && uniform01() < ge_loss_;
}

void simnet::send(slot_id from, outbound& msg) {
  auto size = msg.payload.size() + datagram_overhead_bytes;
  auto& st = slots_[from].stats;
  ++st.datagrams_out;
  st.bytes_out += size;
  ++total_datagrams_;
  total_bytes_ += size;
  auto p = find(msg.to);
  if (p == nullptr || slots_[*p].node == nullptr) {
    dropped(from, msg.to, msg.chan, msg.payload, drop_reason::no_route);
    return;
  }
  auto to = *p;
  if (cut(from, to)) {
    dropped(from, msg.to, msg.chan, msg.payload, drop_reason::cut);
    return;
  }
  const auto& f = faults_of(from, to);
  bool burst = burst_drop(from, to);
  bool iid = f.loss > 0 && uniform01() < f.loss;
  if (burst || iid) {
    dropped(from, msg.to, msg.chan, msg.payload,
            burst ? drop_reason::burst_loss : drop_reason::loss);
    return;
  }
  int copies = (f.duplicate > 0 && uniform01() < f.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    auto idx = alloc_packet();
    auto& pk = packets_[idx];
    pk.from = from;
    pk.to = to;
    pk.to_epoch = slots_[to].epoch;
    pk.chan = msg.chan;
    if (i + 1 == copies)
      pk.payload = std::move(msg.payload);
    else
      pk.payload = msg.payload;
    push(later(draw_delay(f)), to, event_kind::deliver, idx);
  }
}

void simnet::flush_outbox(slot_id from) {
  // Callbacks never nest, so one scratch buffer serves every node.
  for (auto& msg : outbox_)
    send(from, msg);
  outbox_.clear();
}

// -- handing things to nodes --------------------------------------------------

void simnet::hand_over(slot_id s, uint32_t idx) {
  auto& sl = slots_[s];
  const auto& pk = packets_[idx];
  auto size = pk.payload.size() + datagram_overhead_bytes;
  ++sl.stats.datagrams_in;
  sl.stats.bytes_in += size;
  if (on_deliver)
    on_deliver(slots_[pk.from].addr, sl.addr, pk.chan, pk.payload, now_);
  if (sl.node != nullptr) // the tap may have detached the node
    sl.node->on_datagram(slots_[pk.from].addr, pk.chan, pk.payload, now_,
                         outbox_);
  free_packet(idx);
  flush_outbox(s);
}

void simnet::poll_node(slot_id s) {
  slots_[s].node->poll(now_, outbox_);
  flush_outbox(s);
}

void simnet::on_deliver_event(const event& ev) {
  auto& pk = packets_[ev.packet];
  auto& sl = slots_[ev.target];
  if (sl.node == nullptr || pk.to_epoch != sl.epoch) {
    drop_packet(ev.packet, drop_reason::crashed);
    return;
  }
  if (cut(pk.from, pk.to)) {
    drop_packet(ev.packet, drop_reason::cut);
    return;
  }
  if (sl.stalled_until > now_) {
    pk.arrived = now_;
    sl.stall_queue.push_back(ev.packet);
    return;
  }
  hand_over(ev.target, ev.packet);
  reschedule(ev.target, false);
}

void simnet::on_wakeup_event(const event& ev) {
  auto& sl = slots_[ev.target];
  if (ev.seq != sl.wakeup_seq || sl.node == nullptr)
    return; // superseded or detached
  sl.wakeup_seq = 0;
  sl.wakeup_at = time_point::max();
  if (sl.stalled_until > now_)
    return; // the stall end reschedules
  poll_node(ev.target);
  reschedule(ev.target, true);
}

void simnet::on_stall_end_event(const event& ev) {
  auto s = ev.target;
  {
    auto& sl = slots_[s];
    if (sl.node == nullptr || sl.stalled_until != now_)
      return; // detached, or the stall was extended
  }
  auto epoch = slots_[s].epoch;
  auto queued = std::move(slots_[s].stall_queue);
  slots_[s].stall_queue.clear();
  auto alive = [&] {
    return slots_[s].node != nullptr && slots_[s].epoch == epoch
           && slots_[s].stalled_until <= now_;
  };
  // Replay what the node would have seen: datagrams that arrived before its
  // earliest due timer, the timers, then the rest.
  auto due = slots_[s].node->next_wakeup();
  size_t i = 0;
  for (; i < queued.size() && alive() && packets_[queued[i]].arrived < due; ++i)
    hand_over(s, queued[i]);
  bool polled = false;
  if (alive() && slots_[s].node->next_wakeup() <= now_) {
    poll_node(s);
    polled = true;
  }
  for (; i < queued.size() && alive(); ++i)
    hand_over(s, queued[i]);
  if (i < queued.size()) {
    if (slots_[s].node != nullptr && slots_[s].epoch == epoch) {
      // Stalled again from inside a callback: keep the rest queued, in order.
      auto& q = slots_[s].stall_queue;
      q.insert(q.begin(), queued.begin() + static_cast<std::ptrdiff_t>(i),
               queued.end());
    } else {
      for (; i < queued.size(); ++i)
        drop_packet(queued[i], drop_reason::crashed);
    }
  }
  if (alive())
    reschedule(s, polled);
}

// -- faults -------------------------------------------------------------------

void simnet::set_default_faults(link_faults f) {
  default_faults_ = f;
}

void simnet::set_link_faults(const address& from, const address& to,
                             link_faults f) {
  auto a = intern(from);
  auto b = intern(to);
  link_faults_[link_key(a, b)] = f;
}

void simnet::clear_link_faults(const address& from, const address& to) {
  auto a = find(from);
  auto b = find(to);
  if (a != nullptr && b != nullptr)
    link_faults_.erase(link_key(*a, *b));
}

void simnet::set_burst_loss(double p_enter_bad, double p_leave_bad,
                            double loss_in_bad) {
  ge_enter_ = std::clamp(p_enter_bad, 0.0, 1.0);
  ge_leave_ = std::clamp(p_leave_bad, 0.0, 1.0);
  ge_loss_ = std::clamp(loss_in_bad, 0.0, 1.0);
  if (ge_enter_ <= 0)
    bad_links_.clear();
}

void simnet::block(const address& from, const address& to) {
  auto a = intern(from);
  auto b = intern(to);
  blocked_.insert(link_key(a, b));
}

void simnet::unblock(const address& from, const address& to) {
  auto a = find(from);
  auto b = find(to);
  if (a != nullptr && b != nullptr)
    blocked_.erase(link_key(*a, *b));
}

void simnet::partition(const std::vector<std::vector<address>>& groups) {
  for (auto& sl : slots_)
    sl.group = 0;
  uint32_t g = 0;
  for (const auto& group : groups) {
    ++g;
    for (const auto& addr : group)
      slots_[intern(addr)].group = g;
  }
  partitioned_ = g > 1;
}

void simnet::heal() {
  blocked_.clear();
  for (auto& sl : slots_)
    sl.group = 0;
  partitioned_ = false;
}

void simnet::stall(const address& node, duration d) {
  auto p = find(node);
  if (p == nullptr || d <= duration::zero())
    return;
  auto& sl = slots_[*p];
  if (sl.node == nullptr)
    return;
  auto until = later(d);
  if (until <= sl.stalled_until)
    return;
  sl.stalled_until = until;
  push(until, *p, event_kind::stall_end, 0);
}

bool simnet::stalled(const address& node) const {
  auto p = find(node);
  return p != nullptr && slots_[*p].stalled_until > now_;
}

// -- observation --------------------------------------------------------------

const simnet::node_stats& simnet::stats(const address& a) const {
  auto p = find(a);
  return p == nullptr ? zero_stats : slots_[*p].stats;
}

} // namespace pekonode::sim
