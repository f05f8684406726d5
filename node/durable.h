#pragma once
// A node's data dir (--data_dir) at start and while it runs: opens the
// durable store (refusals as one line), reads back what the node needs
// before any actor starts (entries, HLC high-water, membership snapshot,
// boot epoch), takes the first leases, and keeps the membership snapshot
// current. The protocol cores never see any of it: the metadata shell
// persists its changes, and this file persists what membership knows.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "membership/membership_actor.h"
#include "metadata/metadata_actor.h"
#include "storage/codec.h"
#include "storage/data_dir.h"

namespace pekonode::node {

/// How far ahead the incarnation ceiling is written. Peers ignore a
/// second-hand 'alive' claim more than membership::config::
/// max_incarnation_jump (1024) above what they hold, so a restart may jump
/// only a little: 64 covers dozens of refutations between two snapshots
/// (refutations are rate-limited to one per probe interval after a burst).
inline constexpr uint64_t incarnation_lease_step = 64;

/// Most peers kept in the membership snapshot (alive ones first).
inline constexpr size_t max_snapshot_peers = 128;

/// What a node starts from when it has a data dir.
struct durable_state {
  /// The open store and its committer; null: the node keeps memory only.
  std::shared_ptr<metadata::durable_store> store;
  /// Entries read back (the metadata actor takes them at start).
  std::shared_ptr<std::vector<storage::record>> records;
  uint64_t hlc_high_water = 0; ///< every version issued before is at or below
  uint64_t hlc_ceiling = 0;    ///< lease written at start (>= high water)
  /// Number of this start, durably larger at every start (1 on the first):
  /// the base for replay protection across restarts.
  uint64_t boot_epoch = 0;
  uint64_t incarnation = 0;         ///< to start at (beats every claim before)
  uint64_t incarnation_ceiling = 0; ///< written at start
  /// Addresses of the members known before (not those that left): joined
  /// besides --join.
  std::vector<std::string> peers;
};

/// Opens (creating on first use) the data dir `path` of node `id`, loads
/// it and writes the first leases (HLC ceiling from `wall_ms`, incarnation
/// ceiling) in one durable commit, then starts the group committer. On
/// failure returns one line ("data_dir PATH: ...") and `out` is untouched.
std::string open_data_dir(const std::string& path, const storage::identity& id,
                          uint64_t wall_ms, durable_state& out);

/// The membership snapshot to persist from `members` (self included, found
/// by `self_name`): peers other than self that did not leave, alive first,
/// at most max_snapshot_peers; the incarnation ceiling is `ceiling`, raised
/// to self's incarnation + incarnation_lease_step when self's incarnation is
/// within half a step of it. Pure (tested in durable_test).
storage::membership_snapshot
membership_snapshot_of(const std::vector<membership::member>& members,
                       const std::string& self_name, uint64_t ceiling);

/// Spawns the actor that persists the membership snapshot every `interval`
/// when it changed (peers, or the incarnation ceiling), linked to
/// `membership`. Also answers `(nd_snap_atom) -> bool` once a current
/// snapshot is durable (used at shutdown).
caf::actor spawn_membership_snapshots(caf::actor_system& sys,
                                      membership::membership_actor membership,
                                      std::string self_name,
                                      std::shared_ptr<metadata::durable_store> store,
                                      uint64_t ceiling, duration interval);

} // namespace pekonode::node
