#include "membership/leave_notices.h"

#include <algorithm>

namespace pekonode::membership {

leave_notices::leave_notices(const config& cfg, member_table& table,
                             outbox& ob, std::mt19937_64& rng,
                             core_stats& stats)
  : cfg_(cfg), table_(table), ob_(ob), rng_(rng), stats_(stats) {}

duration leave_notices::resend_gap() const {
  return std::max(cfg_.gossip_interval, cfg_.probe_timeout / 2);
}

void leave_notices::start(time_point now) {
  stop();
  if (cfg_.leave_notices_per_tick <= 0) return;
  seq_ = ob_.next_seq();
  // Gossip ticks within the drain: ceil(leave_drain / gossip_interval).
  auto g = cfg_.gossip_interval.count();
  auto ticks = static_cast<std::size_t>((cfg_.leave_drain.count() + g - 1) / g);
  auto cap = std::min<std::size_t>(
    static_cast<std::size_t>(cfg_.leave_notices_per_tick) * ticks, cfg_.max_members);
  auto peers = table_.pick(cap, false, now, {}, rng_);
  std::shuffle(peers.begin(), peers.end(), rng_);
  pending_.reserve(peers.size());
  for (auto* m : peers) {
    pos_.emplace(m->name, pending_.size());
    pending_.push_back(peer{m->name, m->addr, {}, false});
  }
}

void leave_notices::send_notice(peer& p, time_point now, outbound_list& out) {
  p.last_sent = now;
  p.sent = true;
  auto pkt = ob_.packet();
  pkt.mutable_leave()->set_seq(seq_);
  *pkt.add_updates() = encode(table_.self(), {});
  ++stats_.leave_notices_sent;
  ob_.send(p.addr, pkt, out);
}

void leave_notices::tick(time_point now, outbound_list& out) {
  int budget = cfg_.leave_notices_per_tick;
  std::size_t visits = 0;
  std::size_t max_visits =
    std::min(pending_.size(), 4 * static_cast<std::size_t>(std::max(budget, 0)));
  while (budget > 0 && visits < max_visits) {
    if (cursor_ >= pending_.size()) cursor_ = 0;
    auto& p = pending_[cursor_++];
    ++visits;
    if (p.sent && now - p.last_sent < resend_gap()) continue;
    send_notice(p, now, out);
    --budget;
  }
}

void leave_notices::move(std::size_t from, std::size_t to) {
  if (from == to) return;
  pending_[to] = std::move(pending_[from]);
  pos_[pending_[to].name] = to;
}

// Drops an acked member in O(1), keeping the not yet visited part of the
// current round at and after the cursor.
void leave_notices::acked(const std::string& name, uint64_t seq) {
  if (seq != seq_) return;
  auto it = pos_.find(name);
  if (it == pos_.end()) return;
  auto i = it->second;
  pos_.erase(it);
  ++stats_.leave_acks_received;
  auto last = pending_.size() - 1;
  if (i < cursor_) {
    auto visited_last = cursor_ - 1;
    move(visited_last, i);
    move(last, visited_last);
    --cursor_;
  } else {
    move(last, i);
  }
  pending_.pop_back();
}

void leave_notices::stop() {
  pending_.clear();
  pos_.clear();
  cursor_ = 0;
}

void leave_notices::handle(std::string_view bytes, time_point now,
                           outbound_list& out) {
  if (pending_.empty()) return;
  // Any well-formed packet counts, even one with no body and no updates.
  Packet p;
  auto err = decode(bytes, cfg_, p);
  if (err != decode_error::none && err != decode_error::empty) return;
  if (p.body_case() == Packet::kLeaveAck) {
    acked(p.sender(), p.leave_ack().seq());
    return;
  }
  auto it = pos_.find(p.sender());
  if (it == pos_.end()) return;
  auto& lp = pending_[it->second];
  if (lp.sent && now - lp.last_sent < resend_gap()) return;
  send_notice(lp, now, out);
}

void leave_notices::on_notice(const std::string& sender, const address& from,
                              const LeaveNotice& m, outbound_list& out) {
  auto* e = table_.find(sender);
  if (!e || e->state != member_state::left) return;
  auto p = ob_.packet();
  p.mutable_leave_ack()->set_seq(m.seq());
  ++stats_.leave_acks_sent;
  ob_.send(from, p, out);
}

} // namespace pekonode::membership
