#include "metadata/write_concern.h"

#include <algorithm>

namespace pekonode::metadata {

void write_concern::ask_more(pending_write& w, uint64_t id, size_t n,
                             const std::vector<interned>& peers,
                             std::mt19937_64& rng, time_point now,
                             std::vector<hold_send>& out) {
  if (n == 0)
    return;
  std::vector<address> untried;
  for (auto& p : peers)
    if (w.tried.count(p) == 0)
      untried.push_back(p);
  // Partial Fisher-Yates: n random untried peers.
  for (size_t i = 0; i < n && i < untried.size(); ++i) {
    std::uniform_int_distribution<size_t> d(i, untried.size() - 1);
    std::swap(untried[i], untried[d(rng)]);
    auto& to = untried[i];
    w.tried.insert(to);
    w.asked.emplace(to, now);
    out.push_back(hold_send{to, id, w.key});
  }
}

void write_concern::start(uint64_t id, const std::string& key,
                          const version& ver, size_t wanted,
                          time_point deadline, time_point now,
                          const std::vector<interned>& peers,
                          std::mt19937_64& rng, std::vector<hold_send>& out) {
  auto& w = pending_[id];
  w.key = key;
  w.ver = ver;
  w.wanted = wanted;
  w.deadline = deadline;
  w.next_retry = now + cfg_.hold_retry;
  ask_more(w, id, wanted - 1, peers, rng, now, out);
}

void write_concern::finish(std::map<uint64_t, pending_write>::iterator i) {
  auto& w = i->second;
  done_.push_back(concern_done{i->first, std::move(w.key), std::move(w.ver),
                               w.acked.size() + 1, w.wanted});
  pending_.erase(i);
}

const char* write_concern::on_ack(const address& from, uint64_t id,
                                  const std::string& key,
                                  const version& ver) {
  auto i = pending_.find(id);
  if (i == pending_.end())
    return "hold_ack_unknown"; // finished long ago, or forged
  auto& w = i->second;
  if (w.tried.count(from) == 0)
    return "hold_ack_unasked";
  // A newer version of the key also makes the write durable there (it
  // supersedes it on every node).
  if (key != w.key || ver < w.ver)
    return "hold_ack_mismatch";
  if (!w.acked.insert(from).second)
    return "hold_ack_duplicate";
  w.asked.erase(from);
  if (w.acked.size() + 1 >= w.wanted)
    finish(i);
  return nullptr;
}

void write_concern::poll(time_point now, const std::vector<interned>& peers,
                         std::mt19937_64& rng, std::vector<hold_send>& out) {
  for (auto i = pending_.begin(); i != pending_.end();) {
    auto& w = i->second;
    if (now >= w.deadline) {
      finish(i++);
      continue;
    }
    if (now >= w.next_retry) {
      w.next_retry = now + cfg_.hold_retry;
      size_t fresh = 0;
      for (auto a = w.asked.begin(); a != w.asked.end();) {
        if (!std::binary_search(peers.begin(), peers.end(), a->first)) {
          a = w.asked.erase(a); // gone: replaced below
          continue;
        }
        out.push_back(hold_send{a->first, i->first, w.key}); // lost?
        if (now - a->second < 2 * cfg_.hold_retry)
          ++fresh;
        ++a;
      }
      size_t missing = w.wanted - 1 - w.acked.size();
      if (missing > fresh)
        ask_more(w, i->first, missing - fresh, peers, rng, now, out);
    }
    ++i;
  }
  for (auto i = owed_.begin(); i != owed_.end();) {
    if (now - i->second.at > cfg_.hold_ttl)
      forget_owed(i++);
    else
      ++i;
  }
}

void write_concern::peer_removed(const address& a, time_point now) {
  for (auto& [id, w] : pending_)
    if (w.asked.erase(a) > 0)
      w.next_retry = std::min(w.next_retry, now);
  for (auto i = owed_.begin(); i != owed_.end();) {
    if (i->second.from == a)
      forget_owed(i++);
    else
      ++i;
  }
}

std::vector<concern_done> write_concern::drain_done() {
  std::vector<concern_done> r;
  r.swap(done_);
  return r;
}

void write_concern::forget_owed(
  std::multimap<std::string, owed_hold>::iterator i) {
  auto c = owed_by_peer_.find(i->second.from);
  if (c != owed_by_peer_.end() && --c->second == 0)
    owed_by_peer_.erase(c);
  owed_.erase(i);
}

const char* write_concern::owe(const address& from, uint64_t id,
                               const std::string& key, const version& ver,
                               time_point now) {
  auto [lo, hi] = owed_.equal_range(key);
  for (auto i = lo; i != hi; ++i) {
    if (i->second.from == from && i->second.id == id) {
      // A retry of a request we hold: keep the newest version asked.
      i->second.at = now;
      i->second.ver = std::max(i->second.ver, ver);
      return nullptr;
    }
  }
  if (owed_.size() >= cfg_.max_owed_holds)
    return "holds_owed_full";
  auto& n = owed_by_peer_[from];
  if (n >= cfg_.max_owed_holds_per_peer) {
    if (n == 0)
      owed_by_peer_.erase(from);
    return "holds_owed_peer_full";
  }
  ++n;
  owed_.emplace(key, owed_hold{from, id, ver, now});
  return nullptr;
}

void write_concern::durable(const held_entry& e,
                            std::vector<hold_ack_send>& out) {
  auto [lo, hi] = owed_.equal_range(e.key);
  for (auto i = lo; i != hi;) {
    if (!(e.ver < i->second.ver)) {
      out.push_back(
        hold_ack_send{i->second.from, i->second.id, e.key, i->second.ver});
      forget_owed(i++);
    } else {
      ++i;
    }
  }
}

time_point write_concern::next_wakeup() const {
  auto t = time_point::max();
  // Owed holds expire at the first poll after hold_ttl: the core polls at
  // least every ae_interval, so they need no wake-up of their own.
  for (auto& [id, w] : pending_)
    t = std::min({t, w.deadline, w.next_retry});
  return t;
}

} // namespace pekonode::metadata
