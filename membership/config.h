#pragma once
// Tuning knobs of the membership core, with three ready profiles (lan, local,
// wan). Plain data: no I/O, no validation side effects beyond validate().
// Each knob states what it does, its formula, its trade-off and defaults.

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "common/types.h"

namespace pekonode::membership {

struct config {
  // -- failure detection (SWIM) ---------------------------------------------

  /// Time between two probe rounds; one member is probed per round, so each
  /// node sends one ping per interval and receives ~one on average (SWIM's
  /// constant load). Scaled by (health_score+1) under Lifeguard. Shorter:
  /// faster first detection, more bytes. lan 1 s, local 200 ms, wan 5 s.
  duration probe_interval = milliseconds(1000);

  /// How long to wait for a direct ack before sending ping-reqs (and the
  /// direct retry, probe_retry); scaled by (health_score+1). With
  /// adaptive_probe_timeout this is only the value used before the first
  /// round trip was measured (and for relayed probes' nacks); without it,
  /// the fixed timeout. Should be ~p99 RTT; within [probe_timeout_min,
  /// probe_timeout_max]. lan 500 ms, local 100 ms, wan 3 s.
  duration probe_timeout = milliseconds(500);

  /// Adaptive direct timeout (TCP's RTO, RFC 6298): every ack of a first
  /// direct ping is a round-trip sample r (the retry and the ping-reqs use
  /// another sequence number, so samples are never ambiguous: Karn's
  /// rule), smoothed over the whole cluster as srtt += (r - srtt)/8,
  /// rttvar += (|srtt - r| - rttvar)/4, and the direct timeout becomes
  ///   clamp(srtt + max(1 ms, 4 rttvar), probe_timeout_min, probe_timeout_max)
  /// times (health_score+1). On a quiet network the timeout falls to the
  /// floor: ping-reqs and the retry go out sooner, leaving the indirect
  /// phase more of the probe interval; under jitter or load it grows with
  /// the measured spread up to the ceiling. The probe still ends after
  /// probe_interval (scaled), so detection time is unchanged, unless the
  /// round trips leave the indirect phase no room in it: then it lasts
  /// the direct timeout plus two round trips, at most 3 probe intervals
  /// (probing::probe_duration, PROTOCOL.md). One estimate
  /// per cluster, not per peer: a node probes each peer only once per N
  /// probe intervals, too rarely for a per-peer estimate to follow load
  /// (docs/PROTOCOL.md). Off: probe_timeout, fixed. Default on.
  bool adaptive_probe_timeout = true;
  /// Floor and ceiling of the adaptive timeout. The floor keeps a burst of
  /// fast acks from making every late ack a retry; the ceiling (below
  /// probe_interval) keeps room for the indirect phase. A peer that delays
  /// or forges acks moves the timeout within these bounds only.
  /// lan 50 / 700 ms, local 20 / 150 ms, wan 200 ms / 4 s.
  duration probe_timeout_min = milliseconds(50);
  duration probe_timeout_max = milliseconds(700);

  /// Direct retry: when the direct timeout passes, the target is pinged
  /// once more (a fresh sequence number) together with the k ping-reqs.
  /// Under i.i.d. loss p a probe then fails only if the ping or ack, its
  /// retry, and all k indirect paths are lost: at 10% loss and k = 2 about
  /// 0.4 % of probes instead of 2.2 %, so five times fewer suspicions to
  /// refute. Cost: one ping per probe whose first ack is late or lost.
  /// Off only to reproduce plain SWIM. Default on.
  bool probe_retry = true;

  /// k: members asked to probe indirectly after a direct timeout. Higher k
  /// lowers false positives exponentially under loss at k more packets per
  /// failed probe. lan 3, local 2, wan 3.
  int indirect_checks = 3;

  /// Lifeguard health multiplier bound: score in [0, awareness_max-1]. lan 8.
  int awareness_max = 8;

  /// Suspicion minimum: min = suspicion_mult * max(1, log10(N)) *
  /// probe_interval. The expected confirmations k = suspicion_mult - 2 (0 if
  /// N-2 < k). Higher: fewer false deaths, slower detection. lan 4, local 3,
  /// wan 6.
  int suspicion_mult = 4;

  /// Suspicion maximum = suspicion_max_timeout_mult * min; a lone suspecter
  /// waits this long, each independent confirmation shrinks it toward min
  /// (remaining = max - log(c+1)/log(k+1) * (max-min)). lan/local/wan 6.
  int suspicion_max_timeout_mult = 6;

  /// Loss-aware suspicion: each node smooths the share of its first direct
  /// pings that were not answered within the direct timeout (gain 1/16 per
  /// probe; lost ping or ack, or an ack later than the adaptive timeout),
  /// m, and stretches the suspicion timeouts it starts (min and max) by
  /// 1 / (1 - m)^2, at most probing::max_loss_stretch (4); suspicion checks
  /// keep the unstretched period, so a stretched suspicion holds more of
  /// them. On a quiet network m stays near 0 and detection keeps its
  /// speed; at 30 % loss on every link (m about 0.5) a suspicion waits 4x
  /// longer. Without it, `loss_30` with `local` declared a healthy node
  /// dead about once in 350,000 suspicions held: one whose four checks and
  /// every gossip copy of the refutation were all lost within its 1.2 s
  /// minimum (docs/PROTOCOL.md). Off only to reproduce plain Lifeguard.
  /// Default on.
  bool loss_aware_suspicion = true;

  /// Suspicion checks: while this node holds a member suspect, it pings
  /// that member directly every max(probe_interval, suspicion_min / 4)
  /// (suspicion_min for the current N, see suspicion_mult), the ping
  /// carrying the suspicion with this node as its accuser (Lifeguard's
  /// buddy system, repeated). A live suspect answers with its refutation
  /// straight to us (refute_assist), so no node declares a healthy member
  /// dead only because the refutation's gossip missed it: without checks,
  /// a node that learnt a suspicion second-hand and gossiped it before
  /// the suspect woke from a CPU stall had no path to the refutation but
  /// random gossip (about 1 run in 100 of cpu_stall at N=30 with local).
  /// Cost: ~4 small pings per suspicion that lasts its minimum timeout,
  /// none for one refuted within the first period. From the second check
  /// on, each check also goes through one random member as a ping-req
  /// carrying the suspicion (our own links to the suspect, and to every
  /// member our gossip of the suspicion reached, may be cut: a one-way
  /// partition). Off only to reproduce plain Lifeguard. Default on.
  bool suspicion_checks = true;

  /// Refutation assist: (1) a packet that carries an accusation (suspect or
  /// dead) older than an alive record we hold is answered with that record,
  /// at most 8 records in one reply per packet; (2) a packet straight
  /// from a member we hold suspect is answered with the accusation (at most
  /// once per probe_timeout per suspect), so it refutes, or re-sends its
  /// refutation. Without it a refutation reaches a suspecter only through
  /// ~retransmit_mult*log10(N+1) gossip sends per node, and a suspecter whose
  /// copies were all lost (or whose accusation arrived after the refutation
  /// had circulated) declares a healthy node dead: 5 of 40 two-minute runs
  /// at N=6 and 10% loss with the local profile. Cost: one small packet per
  /// stale accusation or suspect's packet, only while suspicions are open.
  /// Off only to reproduce plain SWIM/Lifeguard. Default on.
  bool refute_assist = true;

  // -- dissemination ----------------------------------------------------------

  /// Gossip tick: piggybacked updates are also pushed to gossip_fanout random
  /// members this often, but only while the broadcast queue is non-empty
  /// (an idle cluster sends nothing on this path). Shorter: faster spread,
  /// more packets while updates are pending. lan 100 ms, local 50 ms, wan 500 ms.
  duration gossip_interval = milliseconds(100);

  /// Members per gossip tick (alive, suspect, and dead for gossip_to_dead).
  /// lan 4, local 3, wan 4.
  int gossip_fanout = 4;

  /// Each update is sent at most retransmit_mult * ceil(log10(N+1)) times by
  /// each node (fewest-sent first, then newest). Higher: more robust spread
  /// under loss, more bytes. lan 4, local 3, wan 4.
  int retransmit_mult = 4;

  /// Keep gossiping to a member this long after it was declared dead so it
  /// can hear it and refute. lan 30 s, local 15 s, wan 60 s.
  duration gossip_to_dead = seconds(30);

  /// Size budget of one encoded Packet; piggybacked updates fill it. Keep
  /// below the path MTU minus the transport envelope. Default 1200 B.
  std::size_t max_packet = 1200;

  /// Largest payload accepted from the wire (checked before parsing) and the
  /// largest packet we ever emit (a single update with large tags travels in
  /// its own packet of up to this size). Default 16 KiB.
  std::size_t max_datagram = 16 * 1024;

  // -- anti-entropy and lifecycle --------------------------------------------

  /// Digest exchange with one random live member every
  /// sync_interval * (1 + max(0, ceil(log2 N) - 5)). Costs one ~100 B packet (padded)
  /// when views agree; on mismatch bucket hashes then only differing entries.
  /// Shorter: faster repair of missed gossip. lan 15 s, local 5 s, wan 30 s.
  duration sync_interval = seconds(15);

  /// Quick anti-entropy syncs a node runs right after its join is answered,
  /// join_sync_interval apart (jittered to [1x, 2x)), each with a random
  /// live member: they pull members the seed's reply missed (nodes joining
  /// at the same time, gossip that died out while the cluster looked small).
  /// Cost per sync: ~100 B when views agree, the differing entries otherwise.
  /// 0 disables. lan 3 x 400 ms, local 3 x 200 ms, wan 3 x 2 s.
  int join_syncs = 3;
  duration join_sync_interval = milliseconds(400);

  /// Churn syncs: a node that learns from gossip that a member joined (or
  /// came back) runs one extra digest exchange with a random live member
  /// once joins have been quiet for join_sync_interval (jittered to
  /// [1x, 2x)), and at the latest 4 * join_sync_interval after the first
  /// join not yet followed by an exchange, so a steady stream of joins gets
  /// one every ~4 intervals. Why: in a boot of hundreds of nodes epidemic
  /// gossip misses a few (member, node) pairs (about N^2 * e^-transmits of
  /// them), and without this a node that missed a join learnt it only at
  /// its next periodic sync, up to sync_interval * (1 + ceil(log2 N) - 5)
  /// later (90 s at N=1000 with lan); with it, within a few gossip rounds
  /// of the last join (docs/PROTOCOL.md, "Join storms"). Bounded whatever
  /// the input: at most one exchange per join_sync_interval per node, to a
  /// live member we chose (never to the sender of the news), only for
  /// confirmed members (claims from strangers stay unconfirmed and trigger
  /// nothing), and skipped when this node sent a digest within the last
  /// join_sync_interval. Cost: ~100 B when views agree, the differing
  /// buckets otherwise; nothing while no member joins. Default on.
  bool churn_syncs = true;
  /// While joins keep coming (never quiet for join_sync_interval), a churn
  /// sync still runs this long after the first join it covers: a join
  /// missed in the middle of a long boot is repaired within about this
  /// long. Shorter: fresher views during long boots, more exchanges (each
  /// differs while gossip is in flight, so it carries pages). Must be at
  /// least join_sync_interval. At N=1000 with lan (a node every 100 ms)
  /// 4 s cost about 14 % more membership bytes during the boot than no churn
  /// syncs, 10 s 1.6 %, and every join reached every node within 4.5 s
  /// (27 s without). lan 10 s, local 3 s, wan 30 s.
  duration churn_sync_max_wait = seconds(10);

  /// First join retry delay; doubles up to join_retry_max until a seed
  /// answers. Attempt k+1 comes a uniform [1.25, 2.25) x backoff_k after
  /// attempt k. lan 500 ms / 30 s, wan 1 s / 60 s, local 25 ms / 5 s
  /// (processes started together on one host: the seed may listen tens of
  /// milliseconds after the others sent their first join; retries at
  /// ~30-55, ~90-170, ~220-390 ms cost a few small packets).
  duration join_retry_initial = milliseconds(500);
  duration join_retry_max = seconds(30);

  /// Every reconnect_interval, one random dead/left member or seed that is
  /// not a live member is sent a reconnect request, so partitions that
  /// outlived every timeout re-merge. lan 20 s, local 5 s, wan 60 s.
  duration reconnect_interval = seconds(20);
  /// Dead-member probes: every [1x, 2x) dead_probe_interval (jittered),
  /// while this node holds some member dead, one of them at random gets a
  /// ping that carries our 'dead' record of it. A member cut off by a
  /// partition that has healed answers (it refutes the record, and acks);
  /// a packet from a member we hold dead starts a reconnect to it at once
  /// (below), so a healed partition is noticed within a fraction of this
  /// interval cluster-wide (N nodes probe), not after reconnect_interval.
  /// Cost: one ~60 B ping per interval per node, only while a member is
  /// dead (dead_retention). Zero: off. lan 2 s, local 500 ms, wan 4 s.
  duration dead_probe_interval = seconds(2);
  /// Addresses from discovery (DNS) contacted per discover() call: the rest
  /// wait for the next refresh.
  std::size_t max_discovery_joins = 16;

  /// Dead and left members are remembered (for reconnects and to keep
  /// incarnations monotonic) this long after their last change. lan 1 h.
  duration dead_retention = std::chrono::hours(1);

  /// After leave(), keep gossiping the 'left' claim this long, then go
  /// silent. lan 1 s, local 300 ms, wan 3 s.
  duration leave_drain = seconds(1);

  /// Direct leave notices. During the drain the leaver also sends its 'left'
  /// claim straight to the members that were live when it left, with a
  /// request for an ack (LeaveNotice / LeaveAck): at most
  /// leave_notices_per_tick of them per gossip_interval, in random order,
  /// then again to those that have not acked (each at most once per
  /// max(gossip_interval, probe_timeout / 2)), until all have acked or the
  /// drain ends. A member that talks to the leaver during the drain (e.g.
  /// probes it) is answered with the notice at once, same rate limit.
  /// Members reached directly within the drain:
  /// leave_notices_per_tick * leave_drain / gossip_interval (lan 160,
  /// local 96, wan 96); larger clusters learn the rest through gossip
  /// relays, as without notices. Why: gossip alone gives each relayer only
  /// retransmit_mult * ceil(log10(N+1)) sends to random peers (3 at N=9 with
  /// local), so at N=10 some member was never picked in ~7 % of leaves and
  /// learnt 'left' only from anti-entropy seconds later, or never when it
  /// had meanwhile declared the silent leaver dead. Cost: per leaving node at
  /// most leave_notices_per_tick small (~50 B) packets per gossip tick and
  /// one ack each, only during the drain. 0 disables (gossip only).
  /// lan/local/wan 16.
  int leave_notices_per_tick = 16;

  // -- limits ------------------------------------------------------------------

  /// Reply budget, in state pages (one page <= max_packet bytes, 20-45
  /// members), for answers to join, digest and want requests: each source
  /// address may take reply_pages_burst pages at once, refilled at
  /// reply_pages_per_second; a reply over budget is cut (a random subset of
  /// the table) or, with no token left, not sent. Bounds the work and the
  /// bytes one peer can make us send (amplification): worst case per peer
  /// burst * max_packet at once, then rate * max_packet per second. A join
  /// reply larger than the burst (N > ~1000 at 64 pages) is completed by the
  /// joiner's anti-entropy syncs with other members. lan 64 / 8.
  std::size_t reply_pages_burst = 64;
  double reply_pages_per_second = 8;
  /// All-sources budget for pages beyond the first of each reply (burst =
  /// one second's worth). In a join storm the first requesters get full
  /// tables and later ones one page each, then pull the rest from random
  /// peers; with spoofed sources the amplification is bounded to one page
  /// per request. Higher: faster joins under storms, more burst bytes.
  /// lan 512 pages/s (~600 KB/s).
  double reply_pages_global_per_second = 512;

  /// Total bytes of tag keys+values; set_tags rejects more. Default 4096.
  std::size_t max_tags_bytes = 4096;
  /// Longest accepted node name / address text. Defaults 128 / 128.
  std::size_t max_name_bytes = 128;
  std::size_t max_addr_bytes = 128;
  /// Largest member table we accept (bounds memory under a flood of bogus
  /// names). Default 65536.
  std::size_t max_members = 65536;

  // -- hostile input: incarnations, budgets, unconfirmed members ----------------

  /// An 'alive' claim about a member we know is ignored (counted as
  /// "incarnation_jump") when its incarnation is more than this above the
  /// one we hold, unless the member itself sent it from the address we
  /// hold for it; accusations (suspect, dead, left) from anyone else may
  /// be at most one above.
  /// Only the member raises its incarnation, one step per refutation or tag
  /// change, so honest views lag by far less; a forged claim can push a
  /// member at most this far per round, and the member refutes each round.
  /// Claims about ourselves obey the same bound once we have joined.
  /// Default 1024.
  uint64_t max_incarnation_jump = 1024;

  /// Refutations: at most refute_burst at once, then one per
  /// probe_interval; accusations beyond that are answered together by the
  /// next refutation (above the highest of them), so a stream of forged
  /// accusations costs one refutation per probe interval, not one each.
  /// lan/local/wan 3.
  int refute_burst = 3;

  /// Unsolicited replies (refutations sent straight to an accuser,
  /// corrections, heal notices, name-conflict reports, "you are suspected"
  /// notices): at most assist_burst at once, then assist_per_probe per
  /// probe_interval, all kinds and peers together. Bounds the datagrams a
  /// stream of forged claims can make this node send; beyond it the
  /// replies are skipped (counted in replies_limited) and gossip carries
  /// the news. lan/local/wan 16 / 2.
  int assist_burst = 16;
  int assist_per_probe = 2;

  /// Members learnt second-hand (gossip or state pages, not from the member
  /// itself) start unconfirmed: invisible to members()/count()/events, not
  /// probed, not gossiped to, not counted in N, not in the digest nor in
  /// state pages. A confirmation ping (a Ping by name) or any packet from
  /// the member itself at its address confirms it; then it joins the view
  /// (event `joined`) and is gossiped on. Unconfirmed members that stay
  /// silent are forgotten unconfirmed_ttl after they were learnt.
  /// At most max_unconfirmed are held (more are dropped, counted as
  /// "unconfirmed_full"). Confirmation pings: at most confirm_burst at once,
  /// then confirm_per_probe per probe_interval, each member pinged at most
  /// confirm_attempts times, probe_timeout apart; their failures never
  /// count against anyone (no suspicion, no Lifeguard score).
  /// Trade-off: a joiner appears in other views one round trip after it is
  /// gossiped; a flood of fake names costs a bounded queue and a few pings
  /// per probe interval, and failure detection never walks the fakes.
  /// lan: 1024 / 30 s / 32 / 8 / 3.
  std::size_t max_unconfirmed = 1024;
  duration unconfirmed_ttl = seconds(30);
  int confirm_burst = 32;
  int confirm_per_probe = 8;
  int confirm_attempts = 3;

  /// Per-source budgets, by the datagram's source address: new members
  /// (entries added to the table) at most new_members_burst at once, then
  /// new_members_per_second; tag bytes stored (new members' tags and tag
  /// changes) at most tag_bytes_burst, then tag_bytes_per_second. Claims
  /// over budget are dropped (counted as "source_budget"); a join reply we
  /// asked for is exempt from the member budget. Sources tracked at once:
  /// 4096 (idle ones are forgotten first). lan 256 / 32 per s, 256 KiB /
  /// 32 KiB per s.
  double new_members_burst = 256;
  double new_members_per_second = 32;
  double tag_bytes_burst = 256 * 1024;
  double tag_bytes_per_second = 32 * 1024;

  /// Memory budget of the member table: the estimated bytes of all entries
  /// (names, addresses, tags, index overhead; member_table::entry_bytes).
  /// A claim that would exceed it is dropped (counted as "table_bytes").
  /// Default 64 MiB.
  std::size_t max_table_bytes = 64 * 1024 * 1024;

  /// Profile for a data-centre LAN (memberlist DefaultLANConfig-like, with a
  /// faster gossip tick).
  static config lan();
  /// Profile for loopback / one host: aggressive timings.
  static config local();
  /// Profile for WAN links: slower probes, more tolerance.
  static config wan();

  /// Empty string if the config is usable, else the first problem found.
  std::string validate() const;
};

/// Period of anti-entropy syncs with `live` live members:
/// c.sync_interval * (1 + max(0, ceil(log2 live) - 5)).
duration sync_period(const config& c, std::size_t live);

/// Transmits of one piggybacked update by this node with `live` live
/// members: c.retransmit_mult * max(1, ceil(log10(live + 1))), at least 1.
int retransmit_limit(const config& c, std::size_t live);

/// Uniform in [d/2, d) (one draw from `rng`; `d` itself if d < 2 ticks):
/// spreads the periodic work of nodes started together.
duration jitter(duration d, std::mt19937_64& rng);

} // namespace pekonode::membership
