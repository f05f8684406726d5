#pragma once
// The timer actor: owns every periodic schedule of a node (probe, gossip,
// anti-entropy, reconnect) and sends the requested tick messages, with seeded
// jitter, on CAF's clock (delayed_send). Runs in virtual time under the test
// coordinator. Not a general scheduler: no wall-clock alarms, no catch-up
// bursts after a stall.

#include <caf/all.hpp>

#include <cstdint>

#include "common/types.h"

namespace pekonode::transport {

/// `(tm_every_atom, caf::actor target, caf::message tick, caf::timespan
/// period, double jitter) -> uint64_t id`: send `tick` to `target` every
/// `period`, each interval drawn uniformly from period * [1 - j, 1 + j]
/// (j = jitter clamped to [0, 0.9]); the first tick comes one interval after
/// the request. Jitter spreads the rounds of nodes that started together.
/// A non-positive period is rejected with sec::invalid_argument.
using tm_every_atom = caf::atom_constant<caf::atom("tm_every")>;
/// `(tm_once_atom, caf::actor target, caf::message tick, caf::timespan delay)
/// -> uint64_t id`: one tick after `delay` (no jitter).
using tm_once_atom = caf::atom_constant<caf::atom("tm_once")>;
/// `(tm_cancel_atom, uint64_t id)`: cancel one schedule (unknown ids are
/// ignored). `(tm_cancel_atom, caf::actor target)`: cancel all of target's.
using tm_cancel_atom = caf::atom_constant<caf::atom("tm_cancel")>;
/// `(tm_hold_atom, bool held)`: while held, no tick is delivered (a stalled
/// node); on release every schedule that came due meanwhile fires once,
/// immediately, and resumes its period.
using tm_hold_atom = caf::atom_constant<caf::atom("tm_hold")>;
/// `(tm_count_atom) -> uint64_t`: number of live schedules.
using tm_count_atom = caf::atom_constant<caf::atom("tm_count")>;

/// Settings of a timer actor.
struct timer_config {
  /// Seed of the jitter RNG; equal seeds give equal tick times.
  uint64_t seed = 1;
};

/// Spawns a timer actor. Targets are monitored: their schedules end when they
/// terminate. Ticks of one schedule are delivered in order; no ordering holds
/// between schedules that come due at the same instant.
caf::actor make_timer(caf::actor_system& sys, timer_config cfg = {});

} // namespace pekonode::transport
