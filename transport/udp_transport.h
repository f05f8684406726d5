#pragma once
// The UDP transport actor: owns one POSIX datagram socket, speaks the
// transport.h protocol, batches, frames (encryption or label) and bounds all
// input. Not a stream transport: bulk data must be chunked by the layer.

#include <caf/all.hpp>

#include <cstddef>
#include <string>

#include "common/types.h"
#include "transport/crypto.h"
#include "transport/transport.h"
#include "transport/wire.h"

namespace pekonode::transport {

/// Configuration of a UDP transport.
struct udp_config {
  /// Node name, batching budget (`max_datagram`, default 1400) and receive
  /// bounds (`codec`). See wire.h.
  wire_config wire;
  /// Address to bind, "ip:port" or "[ip]:port"; port 0 picks a free port.
  /// An IPv6 bind of "[::]" also accepts IPv4 (dual stack). Default loopback.
  std::string bind = "127.0.0.1:0";
  /// Address reported to peers via `tx_adv_atom` (e.g. the public address
  /// behind NAT). Empty: the bound address. Never bound.
  std::string advertise;
  /// Encryption keys; empty ring = plaintext frames carrying `label`.
  keyring keys;
  /// Cluster label: bound into the AEAD associated data, or carried and
  /// checked in plaintext mode. Nodes with different labels never talk.
  std::string label;
  /// SO_RCVBUF request in bytes. Default 4 MiB: absorbs bursts (a gossip round
  /// of a large cluster) while the actor is busy; the kernel may cap it
  /// (net.core.rmem_max). Costs kernel memory only when filled.
  int recv_buffer = 4 << 20;
  /// Datagrams read but not yet processed by the actor before the reader
  /// drops new ones (counted as "overload"). Default 8192 (~11 MiB at
  /// 1400 bytes): bounds memory under a flood instead of growing the mailbox.
  size_t max_pending = 8192;
  /// How long a resolved hostname is reused. Default 30 s; failures are
  /// cached for `resolve_retry` (default 5 s) so a dead name does not block
  /// every send. Resolution runs in the actor (blocking getaddrinfo).
  duration resolve_ttl = std::chrono::seconds(30);
  duration resolve_retry = std::chrono::seconds(5);
  /// Seed of the fault-injection RNG (tx_fault_atom drop_rate); 0 draws one
  /// from std::random_device. Set it to reproduce a chaos run.
  uint64_t fault_seed = 0;
};

/// Binds the socket and spawns the transport actor. Errors (as
/// `make_error(ec, reason)`): bad_address, resolve_failed, io_error
/// (socket/bind failed: the reason names the address and errno text).
/// The socket is closed when the actor quits (tx_close, exit, last handle
/// dropped); its reader thread is stopped and joined then.
caf::expected<caf::actor> make_udp_transport(caf::actor_system& sys,
                                             udp_config cfg);

/// The human-readable reason stored in a transport error, or CAF's rendering.
std::string describe(const caf::error& err);

} // namespace pekonode::transport
