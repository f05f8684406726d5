#pragma once
// Pure protocol core of the cluster metadata layer: the coordinator that owns
// the store, the hybrid logical clock, the live peers and the timers, and
// wires the protocol modules together. No CAF, no sockets, no clock reads; an
// actor shell feeds it time, datagrams and peers, and sends what it returns
// in `out`. The modules, each with its own tests:
//
//   rumours.h       transmit-limited rumour queue (push of every update)
//   anti_entropy.h  SYN -> ACK -> ACK2 -> WANT digest rounds with one peer
//   transfers.h     chunked pull of values too large to ride inline
//   bulk_sender.h   token-bucket sender of pushes and served chunks
//   codec.h         message helpers (inline/announce, packing, emitter)
//
// Randomness (peer choice, anti-entropy jitter) is drawn here only, from one
// seeded generator, so a run is a pure function of the seed and the inputs.

#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/intern.h"
#include "common/interned_map.h"
#include "common/types.h"
#include "metadata/anti_entropy.h"
#include "metadata/bulk_sender.h"
#include "metadata/config.h"
#include "metadata/hlc.h"
#include "metadata/peer_budget.h"
#include "metadata/rumours.h"
#include "metadata/store.h"
#include "metadata/transfers.h"
#include "metadata/write_concern.h"

namespace pekonode::metadata {

class Entry; // generated, metadata.pb.h
class Updates;
class Syn;
class SynCookie;
class emitter;
class Message;
struct push_list;

/// Who caused a change.
enum class change_origin : uint8_t { local, remote };

/// A change of one key, in apply order. `deleted` with a default entry means
/// the key vanished because an expired remote tombstone deleted it.
struct change_event {
  std::string key;
  entry value; ///< the new entry (tombstone flag set for deletes)
  change_origin origin = change_origin::local;
};

/// Result of a local write.
struct write_result {
  ec code = ec::ok;
  version ver; ///< the new version when code == ok
  /// cas_mismatch: the key's live version (origin empty when it has none).
  version current;
  /// replicas > 1 and code == ok: the write's id in drain_concerns().
  uint64_t concern = 0;
};

/// How a write is made (core::write).
struct write_options {
  bool del = false; ///< a delete (tombstone) instead of a value
  /// Compare-and-set: the write happens only if the key's live version is
  /// `cas` (cas_mismatch otherwise), or with `create_only` only if the key
  /// has no live value. Checked and written in one step.
  bool has_cas = false;
  bool create_only = false;
  version cas;
  /// Write concern: the write is reported done (drain_concerns) once this
  /// many nodes hold it, this one included, or at `deadline`. 1: local.
  size_t replicas = 1;
  time_point deadline;
};

/// One entry handed to core::restore (a snapshot's record).
struct restore_item {
  std::string key;
  entry value; ///< value, version, tombstone flag (value_hash is computed)
};

/// Outcome of core::restore. On a failed check (`code` != ok) nothing was
/// applied and `key` names the entry that failed it.
struct restore_result {
  ec code = ec::ok;
  std::string key;
  size_t applied = 0;    ///< newer than what this node held: now in the store
  size_t stale = 0;      ///< lost to the version this node holds (LWW)
  size_t tombstones = 0; ///< of the applied, deletes
  size_t rumoured = 0;   ///< of the applied, pushed as rumours at once
};

/// The metadata core of one node. Not thread-safe: one owner (the shell).
/// Every method that takes `out` appends datagrams (channel::metadata, each
/// <= cfg.max_packet bytes) for the shell to send.
class core {
public:
  /// `node_id` is this node's unique name (the version tiebreak); must pass
  /// store::validate_origin: 1..limits.max_origin_bytes bytes of visible
  /// ASCII (else invalid_argument).
  core(config cfg, std::string node_id, uint64_t seed);
  ~core();
  // The modules hold references into the core: it stays where it was made.
  core(const core&) = delete;
  core& operator=(const core&) = delete;

  /// Writes `value` under `key` with a fresh HLC version and starts a rumour.
  write_result put(const std::string& key, std::string value, uint64_t wall_ms,
                   time_point now, outbound_list& out);

  /// Deletes `key` (tombstone). not_found if absent or already deleted.
  write_result del(const std::string& key, uint64_t wall_ms, time_point now,
                   outbound_list& out);

  /// A write with options (compare-and-set, write concern): checks, writes
  /// and, for replicas > 1, asks replicas - 1 peers to hold it, in one step.
  /// Errors before anything is written: the limits of put(), not_found (a
  /// delete of an absent key), cas_mismatch (with the live version in
  /// `current`), bad_option (replicas 0 or above max_replicas),
  /// too_few_members (replicas above live peers + 1), too_many_writes
  /// (max_pending_writes are waiting). For replicas > 1 the result's
  /// `concern` names the write in a later drain_concerns().
  write_result write(const std::string& key, std::string value,
                     const write_options& opts, uint64_t wall_ms,
                     time_point now, outbound_list& out);

  /// Writes with replicas > 1 that finished (held by enough nodes, or past
  /// their deadline) since the last drain.
  std::vector<concern_done> drain_concerns();

  /// The entries that were already held when a peer asked this node to hold
  /// them, since the last drain: the shell passes them to on_durable() once
  /// everything applied before is durable (like the change events).
  std::vector<held_entry> drain_held();

  /// Every listed (key, version) is durable on this node (the shell calls
  /// it with the change events it made durable and with drain_held()):
  /// hold acknowledgements owed for them are sent.
  void on_durable(const std::vector<held_entry>& entries, outbound_list& out);

  /// Hold requests this node owes an answer (tests, metrics).
  size_t owed_holds() const { return concern_.owed(); }
  /// Live peers (this node not included).
  size_t peer_count() const { return peers_.size(); }
  /// Writes waiting for their replicas (tests, metrics).
  size_t pending_writes() const { return concern_.pending(); }

  /// The live entry for `key` (nullptr if absent or deleted).
  const entry* get(std::string_view key) const;

  /// Live keys with their entries, sorted by key.
  std::vector<std::pair<std::string, const entry*>> list() const;

  /// Processes one datagram payload from `from`. Bad input is counted in
  /// stats().rejects and dropped. Only live peers are answered: from any
  /// other address entries are still applied, but nothing is sent back
  /// (counted "not_a_peer"; a SYN is held for ae_step_timeout and answered
  /// if membership makes `from` a peer meanwhile). What a peer draws is
  /// bounded by its budgets (config: peer_reply_*, peer_bulk_*).
  void handle(const address& from, std::string_view payload,
              uint64_t wall_ms, time_point now, outbound_list& out);

  /// Runs due timers: rumour ticks, anti-entropy, chunk timeouts, bulk
  /// sending, GC. Call at next_wakeup() (calling earlier is harmless).
  void poll(uint64_t wall_ms, time_point now, outbound_list& out);

  /// When poll() next has work: time_point::max() if nothing is due, else
  /// the earliest due time (possibly already past: poll at once). Only
  /// anti-entropy and GC are periodic; the gossip tick, chunk retries and
  /// the bulk sender are due only while they have work, so an idle node
  /// wakes once per ae_interval. Before
  /// the first call that takes `now` the timers are not started yet and are
  /// due at the clock's epoch, time_point{}; when the first peer appears,
  /// anti-entropy is due at the latest `now` seen.
  time_point next_wakeup() const;

  /// Replaces the set of live peers (the shell calls it on membership
  /// changes). Transfers keep their sources until they fail. When the first
  /// peer appears (a fresh or restarted node joining), anti-entropy runs at
  /// the next poll instead of up to ae_interval later, so a joiner catches
  /// up at once (and a rolling restart does not outrun the catch-up).
  void set_peers(std::vector<address> live);

  /// Follows one membership change instead of a whole set_peers: member
  /// `name` is now `live` (alive or suspect) at `addr`, or not (dead, left).
  /// An address stays a peer while any live name uses it. O(log N) plus an
  /// O(N) move, no sort, so a shell can apply events one by one. Returns
  /// true when a peer appeared (it may be behind: poll soon). The first
  /// peer triggers anti-entropy at once, as in set_peers. Use either this or
  /// set_peers on one core, not both.
  bool member_changed(const std::string& name, const address& addr, bool live);

  /// Change events since the last drain, in apply order.
  std::vector<change_event> drain_events();

  // -- durability hooks (the shell persists; the core does no I/O) ------------

  /// Makes the core remember every key whose entry changed (written, merged,
  /// erased, collected) until drain_changed(), so that a shell can persist
  /// each change. Off by default.
  void track_changes(bool on) { track_changes_ = on; }

  /// Keys changed since the last drain, sorted; each at most once. The
  /// shell reads each key's current entry (data().find) to persist it, or
  /// erases it when absent.
  std::vector<std::string> drain_changed();

  /// Holds back the rumour of every local write until release_local(): a
  /// shell with a durable store gossips a write only once it is on disk.
  /// Off by default (a write is gossiped at once).
  void hold_local_rumours(bool on) { hold_local_ = on; }

  /// Starts the rumour of local write (`key`, `ver`) held back by
  /// hold_local_rumours, if the store still holds that version (a newer one
  /// has its own rumour).
  void release_local(const std::string& key, const version& ver,
                     time_point now, outbound_list& out);

  /// Puts back `prev` (nullptr: no entry) for `key` if the store still holds
  /// `ver`: undoes a local write that could not be made durable. Emits a
  /// change event; records no change for track_changes (the store is back to
  /// what the shell persisted). Returns whether it reverted.
  bool revert_local(const std::string& key, const version& ver,
                    const entry* prev);

  /// Loads one entry from a durable store at start: merged by the usual
  /// rules, the HLC advanced past its version; no event, no rumour, no
  /// change recorded. Returns the store's verdict (limit errors included).
  ec restore(const std::string& key, entry e);

  /// Advances the HLC past `t` (a durable high-water mark at start), so no
  /// later local version is at or below it.
  void observe_hlc(hlc_t t) { clock_.observe(t, 0); }

  /// The last HLC timestamp issued or observed.
  hlc_t hlc_last() const { return clock_.last(); }

  /// The horizon (wall ms) of the latest tombstone collection; 0 before any.
  uint64_t gc_horizon() const { return gc_horizon_; }

  /// Whole-store digest (tombstones included), for O(1) comparison.
  store_digest digest() const { return store_.digest(); }

  const stats& get_stats() const { return stats_; }
  const store& data() const { return store_; }
  const config& cfg() const { return cfg_; }
  const std::string& node_id() const { return node_id_; }
  /// Number of transfers in progress (tests, metrics).
  size_t active_transfers() const { return transfers_.active(); }

  /// Applies a restored snapshot's entries as if they had arrived from a
  /// peer: each wins or loses against the held version by the usual
  /// last-writer-wins rule, the clock observes what wins, and what wins
  /// spreads (as rumours while the rumour queue has room, the rest by
  /// anti-entropy, which starts at the next poll). All entries are checked
  /// first (the remote-entry rules: key, value, origin, tombstone, clock
  /// skew; no key twice; the store's byte and key bounds after the whole
  /// restore): any failure applies nothing. O(n log n) in the entries.
  restore_result restore(std::vector<restore_item> items, uint64_t wall_ms,
                         time_point now, outbound_list& out);

  /// Tombstones held (deleted keys not yet collected).
  size_t tombstones() const { return tombstones_count(); }
  /// Rumours queued, and pushes/chunks waiting for the bulk sender.
  size_t rumours_queued() const { return rumours_.size(); }
  size_t bulk_queued() const { return bulk_.size(); }

  /// The latest HLC timestamp this node issued or observed.
  hlc_t clock_last() const { return clock_.last(); }

private:
  class bulk_payloads;

  /// Starts the timers at the first call and remembers the latest `now`.
  void advance(time_point now);
  /// Whether the gossip tick has work: rumours queued and someone to tell.
  bool gossip_due() const;
  /// Anti-entropy can do something: a peer to ask, or exchange state to
  /// expire.
  bool ae_due() const;
  /// Moves an idle gossip timer to its next tick at or after `now`.
  void roll_gossip(time_point now);
  /// End of every entry point that takes `now`: remembers whether the gossip
  /// timer is idle (peers may appear before the next call, which has no time).
  void settle();
  /// Versions `e` with a fresh HLC stamp, applies it, and starts its rumour:
  /// the shared tail of put() and del().
  write_result write_local(const std::string& key, entry e, uint64_t wall_ms,
                           emitter& tx);
  void push_event(const std::string& key, const entry& e, change_origin o);
  std::vector<address> pick_peers(size_t k);
  /// A first live peer appeared: anti-entropy is due at once.
  void first_peer();

  void enqueue_rumour(const std::string& key, const version& v);
  void gossip_now(const std::string& key, emitter& tx);
  void gossip_tick(emitter& tx);
  void start_ae(time_point now, emitter& tx);
  void drain_bulk(time_point now, outbound_list& out);
  void run_gc(uint64_t wall_ms);
  size_t tombstones_count() const;

  // -- who is answered, and how much ------------------------------------------
  bool is_peer(const address& a) const;
  /// `a` joined / left the live peers.
  void peer_added(const address& a);
  void peer_removed(const address& a);
  /// The step of a round we sent a peer: when, in which round (nonce), and
  /// how many packets of the next step it may still answer with.
  struct step {
    time_point at;
    size_t left = 0;
    uint64_t nonce = 0;
    bool resent = false; // sent again with the peer's cookie (a SynCookie)
  };
  /// Whether `from` may take the next step of round `nonce`: we sent it the
  /// step before (`sent`) in that round within ae_step_timeout, with
  /// answers left. Counts refusals ("unsolicited").
  bool admit_step(const address& from, std::map<address, step>& sent,
                  uint64_t nonce, time_point now);
  /// A round nonce: random, never 0.
  uint64_t next_nonce();
  /// Whether non-peer `a` proved it receives at its address recently.
  bool validated(const address& a, time_point now) const;
  /// `a` echoed a SYN-back's nonce: served like a peer for a while.
  void validate(const address& a, time_point now);
  /// Answers a SYN from a non-peer with our own SYN when that is no larger
  /// (the round then runs with us as initiator, see config.h).
  void syn_back(const address& from, size_t their_bytes, time_point now,
                outbound_list& out);
  /// Answers a SYN from peer `from` within its reply budget: the ACK
  /// pages when it carries our cookie for `from`, else a SynCookie.
  void answer_syn(const address& from, const Syn& s, time_point now,
                  outbound_list& out);
  /// Our SYN cookie for `a` in cookie epoch `epoch`.
  uint64_t syn_cookie(const address& a, int64_t epoch) const;
  /// Whether `c` is our SYN cookie for `a` in this cookie epoch or the last.
  bool syn_cookie_ok(const address& a, uint64_t c, time_point now) const;
  /// A SynCookie from `from`, echoing the nonce of a SYN we sent it: sends
  /// that SYN once more, with the cookie (once per round).
  void on_syn_cookie(const address& from, const SynCookie& c, bool verified,
                     time_point now, outbound_list& out);
  /// The SYN cookie `a` gave us (0: none).
  uint64_t cookie_from(const address& a) const;
  /// Keeps a SYN from an address that is not a peer yet.
  void hold_syn(const address& from, const Syn& s, time_point now);
  /// Answers held SYNs whose address became a peer; drops expired ones.
  void answer_held(time_point now, outbound_list& out);
  /// Forgets round steps and held SYNs older than ae_step_timeout.
  void prune_steps(time_point now);
  /// Queues pushes of `p.keys` to `to` within its bulk budget.
  void queue_pushes(const address& to, const push_list& p, time_point now);

  void send_holds(const std::vector<hold_send>& sends, emitter& tx);
  void on_hold(const address& from, const Message& m, uint64_t wall_ms,
               time_point now, emitter& tx);
  void on_hold_ack(const address& from, const Message& m);

  ec apply_remote(const Entry& e, bool via_rumour, uint64_t wall_ms,
                  emitter& tx);
  ec apply_entry(const std::string& key, entry e, bool via_rumour,
                 uint64_t wall_ms, emitter& tx);
  void on_updates(const address& from, bool verified, const Updates& u,
                  bool via_rumour, uint64_t wall_ms, time_point now,
                  emitter& tx);
  void reject(const char* reason) { ++stats_.rejects[reason]; }
  void changed(const std::string& key) {
    if (track_changes_)
      changed_.insert(key);
  }

  config cfg_;
  std::string node_id_;
  std::mt19937_64 rng_;
  hlc_clock clock_;
  store store_;
  stats stats_;
  // Live peers, sorted. Every node of a simulated cluster holds one entry
  // per member here and in live_names_, so they hold interned handles.
  std::vector<interned> peers_;
  // member_changed: name -> addr of each live name, and for addresses that
  // more than one live name uses, how many more (absent: one, or none).
  interned_map<interned> live_names_;
  interned_map<int> extra_refs_;
  rumour_queue rumours_;
  anti_entropy ae_;
  transfers transfers_;
  bulk_sender bulk_;
  write_concern concern_;
  std::vector<held_entry> held_; // already held when asked (drain_held)
  peer_budget replies_;     // control replies a peer draws (ACK, ACK2, ...)
  peer_budget bulk_drawn_;  // pushes and chunks a peer draws
  // Round steps we sent, by peer: the next step is taken only from them.
  std::map<address, step> syn_to_, ack_to_, ack2_to_;
  // SYNs we sent back to non-peers (bounded by max_held_syns).
  std::map<address, step> syn_back_;
  // Non-peers that echoed a SYN-back's nonce (so they receive at their
  // address): their announces are pulled for transfer_timeout. Bounded by
  // max_held_syns.
  std::map<address, time_point> validated_;
  // Our chunk cookie for each verified address that asked for chunks (a
  // chunk request is served only with it); forgotten with the address.
  std::map<address, uint64_t> cookies_;
  std::mt19937_64 nonce_rng_; // its own stream: peer choice is unchanged
  // SipHash key of our SYN cookies (syn_cookie), derived from the seed.
  uint64_t cookie_k0_ = 0, cookie_k1_ = 0;
  // The SYN cookie each peer gave us (SynCookie); at most max_cookies, the
  // smallest address's forgotten first (it costs one more round trip).
  std::map<address, uint64_t> peer_cookies_;
  // When each peer's latest SYN was taken: one per ae_interval / 2.
  std::map<address, time_point> syn_from_;
  struct held_syn {
    uint64_t lo = 0, hi = 0, count = 0;
    uint64_t nonce = 0; // the ACK pages echo it, or the joiner drops them
    uint64_t cookie = 0;
    // Its padding, up to what can matter: answered later, the SYN is still
    // compared with the SynCookie it may draw (answer_syn).
    uint32_t pad = 0;
    time_point at;
  };
  std::map<address, held_syn> held_syns_; // from addresses not yet peers
  bool answer_held_ = false; // a held SYN's address became a peer
  std::deque<change_event> events_;
  size_t event_bytes_ = 0; // keys + values held by events_
  bool timers_ = false;
  time_point last_now_{};  // the latest `now` passed in
  bool ae_at_start_ = false; // a peer appeared before the timers started
  time_point next_gossip_;
  bool gossip_idle_ = true; // no rumour work at the end of the last call
  time_point next_ae_;
  // Catch-up (config::catchup_syncs): quick rounds left, and the peers
  // asked in this catch-up (at most catchup_syncs + 1).
  unsigned catchup_left_ = 0;
  std::vector<address> catchup_asked_;
  time_point next_gc_;
  bool track_changes_ = false;
  std::set<std::string> changed_; // track_changes: keys since the last drain
  bool hold_local_ = false;
  uint64_t gc_horizon_ = 0;
};

} // namespace pekonode::metadata
