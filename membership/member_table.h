#pragma once
// The member table of one node: every member it knows (itself included),
// the indexes that make lookups O(1) and random sampling O(k), per-state
// counts, and the incremental anti-entropy digest. The SWIM precedence
// rules decide whether a claim changes a member; apply() reports what
// changed, and the core decides what to send and which events to emit.
// It sends nothing, keeps no timers and never sees protobuf.
//
// Transitions of one member at one incarnation go forward only, and may
// skip states; a claim at a strictly higher incarnation always wins (that
// is how a member refutes, comes back, or changes its tags):
//
//   alive --> suspect --> dead --> left
//
// Dead and left members stay in the table (not live: neither probed nor in
// the digest) until sweep() forgets them after the retention time.
//
// Members learnt second-hand may be added unconfirmed: they are kept (so
// later claims about them apply) but are invisible to every query but
// find_any() — not in find(), members(), counts, N, the digest, sampling
// or for_each — until confirm() makes them members (config::max_unconfirmed
// explains why). The table's memory is estimated (entry_bytes) and bounded.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "membership/types.h"

namespace pekonode::membership {

/// SWIM precedence: whether a claim (inc, st) supersedes the current view
/// (cur_inc, cur). alive needs a higher incarnation; suspect overrides alive
/// at >=; dead and left override alive/suspect at >=, left also overrides
/// dead at >=; anything at a strictly higher incarnation wins.
bool supersedes(uint64_t cur_inc, member_state cur, uint64_t inc,
                member_state st);

/// What one claim says about one member (a validated Update, or a verdict
/// of this node's own failure detector). Views strings owned by the caller.
struct claim {
  std::string_view name;
  std::string_view addr;
  uint64_t incarnation = 0;
  member_state state = member_state::alive;
  interned_tags tags; ///< alive claims only
  std::string_view from; ///< who raised a non-alive claim; empty: the sender
};

/// What member_table::apply() did with a claim.
struct apply_summary {
  enum outcome_t : uint8_t {
    added,         ///< unknown member, now in the table (live or not)
    changed,       ///< the claim superseded our record of the member
    stale,         ///< our record is as new or newer: nothing changed
    addr_conflict, ///< alive claim for a live member at another address:
                   ///< our record is kept
    table_full,    ///< unknown member and no room (max_members): dropped
    unconfirmed_full, ///< unknown, unconfirmed, and max_unconfirmed held
    over_bytes,    ///< the table would exceed its byte budget: dropped
  };
  outcome_t outcome = stale;
  /// The member's entry after the claim (nullptr only for table_full);
  /// valid until the table changes.
  const member* m = nullptr;
  /// The member's state before the claim (for `added`: its new state).
  member_state old_state = member_state::alive;
  /// The claim's state as applied: a same-incarnation 'dead' from a state
  /// page (not first-hand) about a live member counts as 'suspect'.
  member_state state = member_state::alive;
  /// Who raised the claim: claim.from, else the sender (the sender also
  /// for a downgraded 'dead').
  std::string_view accuser;
  bool tags_changed = false; ///< changed: an alive claim with other tags
  bool addr_changed = false; ///< changed: an alive claim from a new address
  /// added/changed: the member is live now and was not (or was unknown).
  bool became_live = false;
  /// The member is confirmed (always true for members added confirmed).
  bool confirmed = true;

  /// Whether the table changed.
  bool applied() const { return outcome == added || outcome == changed; }
};

/// Digest of the live members: an order-independent sum of entry hashes.
struct table_digest {
  uint64_t hash = 0;
  uint32_t count = 0;
};

/// Addresses for partition healing, from sweep().
struct sweep_result {
  std::set<address> live;          ///< of live members
  std::vector<address> remembered; ///< of dead/left members, by name
};

/// Members of one node's view. Not thread-safe. Pointers to members stay
/// valid until the member is forgotten by sweep().
class member_table {
public:
  /// Anti-entropy buckets (SyncBuckets carries exactly this many hashes).
  static constexpr std::size_t digest_buckets = 32;

  /// A table holding only `self`, which may grow to `max_members` members
  /// (self included); pick() includes dead members for `gossip_to_dead`
  /// after their death.
  member_table(member self, std::size_t max_members, duration gossip_to_dead);

  member_table(const member_table&) = delete;
  member_table& operator=(const member_table&) = delete;
  ~member_table();

  /// This node's own entry. The core changes it (refutation, leave,
  /// tags); the table reads it at query time, so it is never stale.
  member& self() { return self_; }
  const member& self() const { return self_; }

  /// Bounds beyond max_members (default: none): unconfirmed members held
  /// at once, and the estimated bytes of all entries (entry_bytes).
  void set_limits(std::size_t max_unconfirmed, std::size_t max_bytes) {
    max_unconfirmed_ = max_unconfirmed;
    max_bytes_ = max_bytes;
  }

  /// Key of the name index's hash (SipHash), so that names chosen by a
  /// peer cannot be made to collide; set before the first member arrives.
  /// Only the index layout depends on it, never an answer or an order.
  void set_index_key(uint64_t k0, uint64_t k1) {
    key0_ = k0;
    key1_ = k1;
  }

  /// The confirmed member called `name`, self included, or nullptr; O(1)
  /// average.
  const member* find(std::string_view name) const;

  /// Like find(), unconfirmed members included.
  const member* find_any(std::string_view name) const;

  /// Where a member other than self is held (unconfirmed included), from
  /// locate(): one name lookup that get() and apply() then reuse. Valid
  /// until the table changes.
  class slot {
  public:
    bool found() const { return idx_ != npos_; }
  private:
    friend class member_table;
    static constexpr uint32_t npos_ = static_cast<uint32_t>(-1);
    explicit slot(uint32_t i) : idx_(i) {}
    uint32_t idx_;
  };

  /// The slot of `name` (never self), found or not.
  slot locate(std::string_view name) const { return slot(lookup(name)); }

  /// The member held in `s` (unconfirmed included), or nullptr.
  const member* get(slot s) const {
    return s.found() ? &at(s.idx_) : nullptr;
  }

  /// Whether `name` is held unconfirmed.
  bool unconfirmed(std::string_view name) const;

  /// Makes an unconfirmed member a member: counted, indexed, in the
  /// digest, visible. Returns it, or nullptr if `name` is not unconfirmed.
  const member* confirm(std::string_view name);

  /// Forgets an unconfirmed member; false if `name` is not unconfirmed.
  bool forget_unconfirmed(std::string_view name);

  /// Members known, self included, any state (unconfirmed ones excluded).
  std::size_t size() const { return sorted_.size() + 1 - unconfirmed_count_; }

  /// Unconfirmed members held.
  std::size_t unconfirmed_count() const { return unconfirmed_count_; }

  /// Estimated bytes of all entries (self excluded).
  std::size_t bytes() const { return bytes_; }

  /// Estimated heap bytes of one entry: its strings, tags, and the
  /// indexes that hold it.
  static std::size_t entry_bytes(const member& m);

  /// Members in state `s`, self included; O(1).
  std::size_t count(member_state s) const;

  /// N for the protocol's log(N) formulas: live members plus self, which
  /// always counts (also while it leaves).
  std::size_t live_count() const { return live_count_; }

  /// All members, self included, sorted by name; O(N).
  std::vector<member> members() const;

  /// Calls f(const member&) for self, then every other (confirmed) member
  /// by name.
  template <class F>
  void for_each(F f) const {
    f(self_);
    for (auto i : sorted_)
      if (auto& m = at(i); m.confirmed) f(static_cast<const member&>(m));
  }

  /// Calls f(const member&) for every live (confirmed) member but self, by
  /// name.
  template <class F>
  void for_each_live_other(F f) const {
    for (auto i : sorted_)
      if (auto& m = at(i); m.confirmed && is_live(m.state))
        f(static_cast<const member&>(m));
  }

  /// The n-th (from 0) dead member in for_each() order (self first, then
  /// by name), or nullptr when fewer are dead; O(1).
  const member* nth_dead(std::size_t n) const;

  /// Applies a claim about another member (never self: the core handles
  /// claims about this node). `sender` is the node whose packet carried
  /// it; `first_hand` is false for state pages (join replies and
  /// anti-entropy), which are not evidence of a death. An unknown member
  /// is added confirmed if `confirmed`, else unconfirmed. O(1) average.
  apply_summary apply(const claim& c, std::string_view sender,
                      bool first_hand, time_point now, bool confirmed = true);

  /// Like apply(), for the member at `where` = locate(c.name), with no
  /// table change in between: the claim's one lookup.
  apply_summary apply(const claim& c, slot where, std::string_view sender,
                      bool first_hand, time_point now, bool confirmed = true);

  /// Up to k distinct random members other than self and `skip`: live ones,
  /// plus when `include_dead` those dead for less than gossip_to_dead (and
  /// forgets older ones from that sample). O(k) expected.
  std::vector<const member*> pick(std::size_t k, bool include_dead,
                                  time_point now, std::string_view skip,
                                  std::mt19937_64& rng);

  /// Forgets dead and left members whose last change is `retention` old
  /// or older, and returns the addresses of the others; O(N).
  sweep_result sweep(time_point now, duration retention);

  /// Like sweep(), but `live` lists only the live addresses found in
  /// `watch` (the caller's seeds): no set of every live address is built.
  sweep_result sweep(time_point now, duration retention,
                     const std::vector<address>& watch);

  /// Digest over the live members, self included; O(1).
  table_digest digest() const;

  /// Per-bucket digests over the live members, self included;
  /// digest_buckets entries, O(buckets).
  std::vector<uint64_t> bucket_hashes() const;

  /// Bucket of a member name, in [0, digest_buckets).
  static std::size_t bucket_of(std::string_view name);

  /// A member's share of the digest: its name, incarnation and state.
  static uint64_t entry_hash(const member& m);

private:
  static constexpr uint32_t npos = static_cast<uint32_t>(-1);

  // A member plus its slot in one sampling index. Every node of a
  // simulated cluster holds one per member, so it is kept small: 48 bytes
  // on LP64, its flags and position in the padding behind member::state.
  // A member is in live_ (alive or suspect) or in dead_recent_ (dead), never
  // both, so one position serves both lists. Its byte estimate is not
  // stored: entry_bytes() depends only on fields of the entry.
  enum list_t : uint8_t { in_none, in_live, in_dead };
  struct entry : member {
    bool counted = false;     // included in state_counts_
    bool confirmed = true;    // see confirm()
    list_t list = in_none;    // which of live_ / dead_recent_ holds it
    uint32_t pos = npos;      // its index there
  };

  // Entries live in a slab of fixed chunks that never move, named by
  // 32-bit indices; freed indices are reused. No allocation per member,
  // the indexes below hold 4-byte indices instead of 8-byte pointers, and
  // at most one partly used chunk per table.
  static constexpr unsigned chunk_shift = 6; // 64 entries per chunk
  entry& at(uint32_t i) const {
    return chunks_[i >> chunk_shift][i & ((1u << chunk_shift) - 1)];
  }
  uint32_t alloc_entry();

  // Index of the entry called `name` (unconfirmed included), or npos.
  uint32_t lookup(std::string_view name) const;
  // The name index: open addressing with linear probing over slots_
  // (a power of two, at most 3/4 full), keyed SipHash of the name. A slot
  // holds the hash's upper 32 bits and the entry index + 1 (0: empty), so
  // a probe reads an entry only when the hashes agree.
  uint64_t hash_of(std::string_view name) const;
  static uint64_t slot_word(uint64_t h, uint32_t idx) {
    return (h & 0xffffffff00000000ULL) | (uint64_t{idx} + 1);
  }
  void index_insert(uint32_t idx);
  void index_erase(uint32_t idx);
  void index_grow();
  // Position of `name` in sorted_ (or where it would go).
  std::vector<uint32_t>::iterator sorted_pos(std::string_view name);
  // Removes entry `idx` from counts, digests and indexes, sorted_
  // excepted, and frees it.
  void release(uint32_t idx);
  sweep_result sweep_impl(time_point now, duration retention,
                          const std::vector<address>* watch);
  void set_state(uint32_t idx, member_state s, time_point now);
  void account(const member& m, int sign);
  void erase(uint32_t idx);
  void dead_sorted_update(uint32_t idx, bool was_dead, bool is_dead);
  std::vector<uint32_t>& list_of(list_t l) {
    return l == in_live ? live_ : dead_recent_;
  }
  void index_add(list_t l, entry& e, uint32_t idx);
  void index_remove(list_t l, entry& e);
  apply_summary apply_at(const claim& c, uint32_t found,
                         std::string_view sender, bool first_hand,
                         time_point now, bool confirmed);

  member self_;
  std::size_t max_members_;
  std::size_t max_unconfirmed_ = static_cast<std::size_t>(-1);
  std::size_t max_bytes_ = static_cast<std::size_t>(-1);
  std::size_t unconfirmed_count_ = 0;
  std::size_t bytes_ = 0;
  duration gossip_to_dead_;
  std::vector<std::unique_ptr<entry[]>> chunks_; // the slab
  std::vector<uint32_t> free_;                   // freed indices
  uint32_t used_ = 0;                            // indices handed out
  // Every member but self, ordered by name (members(), for_each).
  std::vector<uint32_t> sorted_;
  // Hash index over sorted_'s entries: the per-claim lookup is a hash,
  // not O(log N) string compares.
  std::vector<uint64_t> slots_;
  // The last two entries lookup() found: one claim looks its member up
  // three or four times (incarnation bound, admission, apply) and its
  // packet's sender once, so most lookups of a packet repeat one of two
  // names; at N=750 in one process, hashing and probing for them was a
  // tenth of the CPU. Cleared when an entry is erased (index_erase).
  mutable uint32_t recent_[2] = {npos, npos};
  mutable unsigned recent_next_ = 0;
  uint64_t key0_ = 0x70656b6f6e6f6465ULL, key1_ = 0x6d656d6265727321ULL;
  std::vector<uint32_t> live_;        // live members of sorted_, any order
  std::vector<uint32_t> dead_recent_; // dead, possibly within gossip_to_dead
  std::vector<uint32_t> dead_sorted_; // dead (counted) members, by name
  std::size_t state_counts_[4] = {0, 0, 0, 0}; // of sorted_, by member_state
  std::size_t live_count_ = 1;                 // self + live of sorted_
  // Incremental digest over the live members of table_ (self is added at
  // query time): per bucket, and their sum.
  uint64_t bucket_sum_[digest_buckets] = {};
  uint64_t digest_sum_ = 0;
  uint32_t digest_count_ = 0;
};

} // namespace pekonode::membership
