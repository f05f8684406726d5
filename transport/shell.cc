#include "transport/shell.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstring>

#include "common/text.h"
#include "transport/address.h"
#include "transport/keyring_ops.h"

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

uint64_t system_wall_ms() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

namespace {

shell_env complete(shell_env env) {
  if (!env.wall_ms)
    env.wall_ms = system_wall_ms;
  if (!env.is_local)
    env.is_local = [](const address&) { return false; };
  return env;
}

} // namespace

shell::shell(wire w, uint64_t fault_seed, shell_env env)
  : wire_(std::move(w)), env_(complete(std::move(env))),
    replays_(wire_.config().replay, env_.wall_ms()), fault_rng_(fault_seed),
    limiter_(5, std::chrono::seconds(1)) {
}

std::optional<std::string> shell::seal(time_point now, const address& dest,
                                       std::string_view envelope,
                                       size_t messages) {
  auto sealed = wire_.seal(envelope, dest, next_seq_, env_.wall_ms());
  if (!sealed) {
    count_unsent(now, dest, to_string(sealed.code), messages, sealed.message);
    return std::nullopt;
  }
  if (wire_.frame().encrypted())
    ++next_seq_;
  return std::move(*sealed);
}

bool shell::set_keys(keyring keys) {
  auto n = keys.size();
  if (!wire_.set_keys(std::move(keys)))
    return false;
  LOG(INFO) << "transport " << wire_.config().name << ": keyring replaced ("
            << n << " keys)";
  return true;
}

bool delay_queue::push(time_point due, const address& from,
                       std::string_view bytes) {
  if (q_.size() >= max_count_ || bytes.size() > max_bytes_ - bytes_)
    return false;
  bytes_ += bytes.size();
  q_.emplace(due, held{from, std::string{bytes}});
  return true;
}

std::optional<time_point> delay_queue::next_due() const {
  if (q_.empty())
    return std::nullopt;
  return q_.begin()->first;
}

void delay_queue::pop_due(time_point now, std::vector<held>& out) {
  auto i = q_.begin();
  for (; i != q_.end() && i->first <= now; ++i) {
    bytes_ -= i->second.bytes.size();
    out.push_back(std::move(i->second));
  }
  q_.erase(q_.begin(), i);
}

void shell::set_faults(const faults& f) {
  // NaN compares false both ways: treat it as 0 rather than clamping to it.
  drop_rate_ = f.drop_rate > 0.0 ? std::min(f.drop_rate, 1.0) : 0.0;
  blocked_.clear();
  for (auto& b : f.blocked) {
    auto canon = canonicalize(b);
    blocked_.insert(canon ? *canon : b);
  }
  delay_ms_ = std::min(f.delay_ms, max_fault_delay_ms);
  jitter_ms_ = std::min(f.jitter_ms, delay_ms_);
  LOG(INFO) << "transport " << wire_.config().name << ": fault injection: drop "
            << drop_rate_ << ", " << blocked_.size() << " blocked peers, delay "
            << delay_ms_ << " +/- " << jitter_ms_ << " ms";
}

faults shell::current_faults() const {
  return faults{drop_rate_, {blocked_.begin(), blocked_.end()}, delay_ms_,
                jitter_ms_};
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
                    std::string_view bytes, std::vector<delivery>& out,
                    time_point received) {
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
  if (delay_ms_ > 0) {
    // Microsecond resolution: jitter of a few ms still spreads smoothly.
    auto us = int64_t{delay_ms_} * 1000;
    if (jitter_ms_ > 0) {
      auto j = int64_t{jitter_ms_} * 1000;
      us += std::uniform_int_distribution<int64_t>{-j, j}(fault_rng_);
    }
    auto due = now + std::chrono::microseconds{std::max<int64_t>(us, 0)};
    if (!delayed_.push(due, from, bytes))
      drops_.add("delay_overflow"); // deliberate: a flood is not logged
    stats_.inbound_delayed = delayed_.size();
    return;
  }
  decode(now, received == time_point{} ? now : received, from, bytes, out);
}

void shell::release(time_point now, std::vector<delivery>& out) {
  // One wake fired (the earliest armed: the clock fires them in order),
  // and any whose time has passed is spent too. Forgetting a wake too many
  // only risks a redundant one later, never a missing one.
  if (!wakes_.empty())
    wakes_.erase(wakes_.begin());
  wakes_.erase(wakes_.begin(), wakes_.upper_bound(now));
  std::vector<delay_queue::held> due;
  delayed_.pop_due(now, due);
  stats_.inbound_delayed = delayed_.size();
  for (auto& d : due)
    decode(now, now, d.from, d.bytes, out);
}

std::optional<time_point> shell::wake_to_arm(time_point now) {
  auto due = delayed_.next_due();
  if (!due)
    return std::nullopt;
  auto at = std::max(*due, now);
  if (!wakes_.empty() && *wakes_.begin() <= at)
    return std::nullopt; // that wake re-arms for the rest
  if (wakes_.size() >= max_wakes)
    return std::nullopt; // the earliest outstanding wake re-arms
  wakes_.insert(at);
  return at;
}

void shell::decode(time_point now, time_point received, const address& from,
                   std::string_view bytes, std::vector<delivery>& out) {
  frame_header h;
  auto env = wire_.receive(bytes, &h);
  if (!env) {
    count_drop(now, from, to_string(env.code), 1, env.message);
    return;
  }
  if (wire_.frame().encrypted()) {
    // Authenticated: the header was written by a key holder. The checks
    // run on the whole datagram before any message of it is delivered.
    if (!env_.is_local(h.dest)) {
      count_drop(now, from, to_string(ec::wrong_destination), 1,
                 "sealed for " + escape(h.dest));
      return;
    }
    auto wall = env_.wall_ms();
    switch (replays_.check(env->sender, h.epoch, h.seq, h.sent_ms, wall)) {
      case replay_verdict::accept:
        break;
      case replay_verdict::stale:
        count_drop(now, from, to_string(ec::stale), 1,
                   "sealed at " + std::to_string(h.sent_ms) + " ms, now "
                     + std::to_string(wall)
                     + " ms: outside the clock window or before this "
                       "node's start");
        return;
      case replay_verdict::replayed:
        count_drop(now, from, to_string(ec::replayed), 1,
                   "sequence number " + std::to_string(h.seq)
                     + " already taken or below the window");
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
                                                std::move(m.body), received}});
  }
}

namespace {

keyring_reply describe(const keyring& ring) {
  keyring_reply r;
  for (size_t i = 0; i < ring.size(); ++i)
    r.keys.push_back(key_info{key_fingerprint(ring.materials()[i]), i == 0});
  return r;
}

} // namespace

result<keyring_reply> shell::keyring_command(const keyring_request& req) {
  using res = result<keyring_reply>;
  if (!wire_.frame().encrypted())
    return res::failure(ec::encryption_mismatch,
                        "this node gossips in plaintext and has no keyring "
                        "(start it with --keyring_file)");
  if (req.action > static_cast<uint8_t>(keyring_action::reload))
    return res::failure(ec::bad_keyring, "unknown keyring action "
                                           + std::to_string(req.action));
  auto action = static_cast<keyring_action>(req.action);
  const auto& name = wire_.config().name;
  if (action == keyring_action::list)
    return res::success(describe(wire_.frame().keys()));
  if (action == keyring_action::reload) {
    if (env_.keyring_file.empty())
      return res::failure(ec::bad_keyring,
                          "no keyring file to reload (start with --keyring_file)");
    auto ring = load_keyring_file(env_.keyring_file);
    if (!ring)
      return res::failure(ring.code, ring.message);
    auto before = describe(wire_.frame().keys());
    auto reply = describe(*ring);
    bool same = before.keys.size() == reply.keys.size();
    for (size_t i = 0; same && i < reply.keys.size(); ++i)
      same = before.keys[i].fingerprint == reply.keys[i].fingerprint;
    reply.changed = !same;
    if (reply.changed)
      set_keys(std::move(*ring));
    LOG(INFO) << "transport " << name << ": keyring file " << env_.keyring_file
              << " re-read: " << reply.keys.size() << " keys, primary "
              << reply.keys.front().fingerprint
              << (reply.changed ? "" : " (unchanged)");
    return res::success(std::move(reply));
  }
  bool changed = false;
  auto next = change_keyring(wire_.frame().keys(), action, req.key, changed);
  if (!next)
    return res::failure(next.code, next.message);
  auto reply = describe(*next);
  reply.changed = changed;
  if (!changed)
    return res::success(std::move(reply));
  if (!env_.keyring_file.empty()) {
    auto text = keyring_file_text(*next);
    if (!text)
      return res::failure(text.code, text.message);
    auto written = write_file_atomically(env_.keyring_file, *text);
    wipe_text(*text);
    if (!written)
      return res::failure(written.code, written.message
                                          + "; the keyring is unchanged");
    reply.persisted = true;
  }
  set_keys(std::move(*next));
  LOG(INFO) << "transport " << name << ": keyring " << to_string(action)
            << ": " << reply.keys.size() << " keys, primary "
            << reply.keys.front().fingerprint
            << (reply.persisted ? ", written to " + env_.keyring_file
                                : std::string{", in memory only"});
  return res::success(std::move(reply));
}

stats shell::snapshot() const {
  auto res = stats_;
  res.drops = drops_.snapshot();
  return res;
}

} // namespace pekonode::transport::detail
