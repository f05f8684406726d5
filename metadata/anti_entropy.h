#pragma once
// Digest anti-entropy of the metadata layer, in the shape of Cassandra's
// gossip: the steps of one round between initiator A and peer B, each a pure
// function of the local store and one received packet. It keeps no state
// between packets (a lost packet only delays convergence to the next round),
// does not pick peers and does not send pushes itself: it returns the keys to
// push and the core queues them on the rate-limited bulk sender.
//
//   A --SYN(digest, count)-----------> B   equal: B stays silent (O(1))
//  (A <--SYN_COOKIE------------------- B   the SYN lacked B's cookie for A:
//   A --SYN(digest, count, cookie)---> B   the core's, see core.cc)
//   A <--ACK(bucket digest pages)----- B
//   A --ACK2(A's key/version lists of differing buckets, by key range)--> B
//   A <--PUSH(entries A lacks)--+--WANT(keys B lacks)-- B
//   A --PUSH(wanted entries)---------> B
//
// Bounds: an ACK page holds buckets_per_ack() bucket digests; one
// ACK page yields at most max_ae_pages ACK2 packets and one ACK2 at most
// max_ae_pages WANT packets; the rest is synced in later rounds. Each step
// also stops once the emitter's cap on the peer (its reply budget, set by
// the core) is spent. Which peers are answered at all is the core's call.

#include <string>
#include <vector>

#include "common/types.h"
#include "metadata/config.h"
#include "metadata/store.h"

namespace pekonode::metadata {

class Syn;
class Ack;
class Ack2;
class Want;
class emitter;

/// Bytes the round's nonce (a fixed64 field) adds to a SYN, ACK, ACK2 or
/// WANT body.
inline constexpr size_t nonce_field_bytes = 9;

/// Bytes of a SynCookie message (cookie and nonce, two fixed64 fields, in
/// the Message wrapper): what a SYN without the responder's cookie draws.
inline constexpr size_t syn_cookie_bytes = 2 + 2 * nonce_field_bytes;

/// Bucket digests one ACK page carries: (max_packet - 34) / 8, at most all.
size_t buckets_per_ack(size_t max_packet);

/// ACK pages answering one SYN whose digest differs (2 at max_packet 1200).
size_t ack_pages(size_t max_packet);

/// Keys to push to a peer, and whether the packet that asked for them was
/// well-formed all through (false once any part of it was rejected).
struct push_list {
  std::vector<std::string> keys;
  bool well_formed = true;
};

/// The steps of a round over one store. Holds references: `cfg` and `s`
/// must outlive it. Malformed input is counted through the emitter.
class anti_entropy {
public:
  anti_entropy(const config& cfg, const store& s) : cfg_(cfg), store_(s) {}

  /// Step 1 (A): sends `to` the whole-store digest, naming the round
  /// `nonce` (echoed by every later step), with `cookie`, the one `to`
  /// gave us (0: none yet), padded (`Syn.pad`) to at least
  /// syn_cookie_bytes so that `to` may answer it with a SynCookie (an
  /// empty store's SYN is the nonce alone). Returns the bytes sent.
  size_t syn(const address& to, uint64_t nonce, uint64_t cookie,
             emitter& tx) const;

  /// Bytes the SYN syn() would send now (with a non-zero nonce, and a
  /// non-zero cookie when `with_cookie`).
  size_t syn_size(bool with_cookie) const;

  /// Whether SYN `s` names our digest: step 2 then sends nothing.
  bool in_sync(const Syn& s) const;

  /// Step 2 (B): silent when the digests agree, else every bucket digest
  /// in pages of at most max_packet bytes, each echoing the SYN's nonce and
  /// carrying `reply_nonce`, B's own: the ACK2 and WANT of the round echo
  /// that one (a forged SYN chose its own nonce; only who received the ACK
  /// knows B's).
  void on_syn(const address& from, const Syn& s, uint64_t reply_nonce,
              emitter& tx) const;

  /// Step 3 (A): for each bucket whose digest differs, our (key, version)
  /// list as key ranges; at most max_ae_pages packets.
  void on_ack(const address& from, const Ack& a, emitter& tx) const;

  /// Step 4 (B): checks each range (bucket in bounds; keys and origins
  /// valid by the store's rules, in that bucket, after `after`), sends WANTs for keys we lack or hold older (at
  /// most max_ae_pages packets) and returns the keys of ours in range that
  /// the peer lacks or holds older. A bucket out of range ends the packet:
  /// the keys found so far are returned, no WANT is sent. Any other bad
  /// range is skipped.
  push_list on_ack2(const address& from, const Ack2& a, emitter& tx) const;

  /// Step 5 (A): the wanted keys we hold. A key the store's rules refuse
  /// ends the list
  /// (well_formed false; the keys before it are returned).
  push_list on_want(const Want& w, emitter& tx) const;

private:
  const config& cfg_;
  const store& store_;
};

} // namespace pekonode::metadata
