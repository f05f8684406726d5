#pragma once
// The UDP transport actor: owns one POSIX datagram socket, speaks the
// transport_actor protocol (transport.h), batches, frames (encryption or
// label) and bounds all input. Host names among destinations are resolved
// by a resolver actor on its own thread, never inside this actor. Not a
// stream transport: bulk data must be chunked by the layer.

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/types.h"
#include "transport/address.h"
#include "transport/backlog.h"
#include "transport/crypto.h"
#include "transport/resolver.h"
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
  /// The keyring file `keys` came from: run-time keyring changes
  /// (`tx_keyring_atom`) are written back to it atomically, and `reload`
  /// re-reads it. Empty: changes stay in memory, reload is refused.
  std::string keyring_file;
  /// Cluster label: bound into the AEAD associated data, or carried and
  /// checked in plaintext mode. Nodes with different labels never talk.
  std::string label;
  /// SO_RCVBUF request in bytes. Default 4 MiB: absorbs bursts (a gossip round
  /// of a large cluster) while the actor is busy; the kernel may cap it
  /// (net.core.rmem_max). Costs kernel memory only when filled.
  int recv_buffer = 4 << 20;
  /// Received datagrams are queued to the actor in two classes, each
  /// bounded, beyond which the reader drops new ones (counted as
  /// "overload"): those of at most `priority_datagram` bytes — every
  /// datagram pekonode sends within its `max_datagram` budget: probes,
  /// acks, refutations, gossip, metadata — go ahead of larger ones as
  /// urgent messages, at most `max_pending` of them (default 8192: at most 16
  /// MiB); larger datagrams (lone oversize messages, or a flood of
  /// large junk) wait behind them, at most `max_pending_bulk_bytes` bytes
  /// (default 8 MiB). So the queue is bounded at 24 MiB whatever arrives
  /// (it was 8192 x 64 KiB = 512 MiB), and large datagrams never delay
  /// probes and acks. Default `priority_datagram` 2048: above every
  /// default `max_datagram` (1400) with room for jumbo-free tunnels.
  size_t max_pending = 8192;
  size_t priority_datagram = 2048;
  size_t max_pending_bulk_bytes = 8 << 20;
  /// How long a resolved host name is reused. Default 30 s; an expired
  /// entry is still used while it is being refreshed. Failures are cached
  /// for `resolve_retry` (default 5 s) so a dead name costs one lookup per
  /// retry period, not one per send. IP literals never expire.
  duration resolve_ttl = std::chrono::seconds(30);
  duration resolve_retry = std::chrono::seconds(5);
  /// How long one lookup may take before its datagrams are counted unsent
  /// ("unresolved") and the name is retried later. Default 10 s.
  duration resolve_timeout = std::chrono::seconds(10);
  /// Datagrams held per host name while its first lookup runs (beyond: not
  /// sent, "unresolved"). Default 16; at most 256 names wait at once.
  size_t max_waiting = 16;
  /// Name lookups; empty: getaddrinfo (transport::resolve), run on a
  /// resolver actor's own thread.
  resolve_function resolve;
  /// Seed of the fault-injection RNG (tx_fault_atom drop_rate); 0 draws one
  /// from std::random_device. Set it to reproduce a chaos run.
  uint64_t fault_seed = 0;
  /// Where the reader thread records when each queued datagram left the
  /// socket (backlog.h); share it with the protocol actors of the node
  /// (membership::actor_config::backlog). Empty: the transport keeps its own.
  std::shared_ptr<inbound_backlog> backlog;
};

/// A bound UDP socket with its reader wake-up descriptor, waiting to be
/// handed to a transport actor (which closes both when it terminates).
struct udp_socket {
  int fd = -1;
  int wake_fd = -1;
  address bound;
  udp_socket() = default;
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  ~udp_socket();
  /// Gives up ownership of both descriptors.
  void release() { fd = wake_fd = -1; }
};

/// The address peers should use: `advertise` with a port 0 replaced by the
/// bound port (canonical when an IP literal), or `bound` when empty.
address advertise_address(const std::string& advertise, const address& bound);

/// Binds the socket `cfg` describes. Errors (transport category):
/// bad_address, resolve_failed, field_too_large (label), io_error
/// (socket/bind failed: the reason names the address and errno text).
caf::expected<std::shared_ptr<udp_socket>> bind_udp(const udp_config& cfg);

namespace detail {
class shell;
struct reader_shared;
} // namespace detail

/// State of a UDP transport actor (internal; use the transport_actor
/// protocol).
struct udp_state {
  struct destination {
    bool ok = false;
    endpoint ep;
    /// `ep` as text (what the receiver sees as our destination, sealed into
    /// each frame), formatted once per resolution instead of per datagram.
    address ep_text;
    std::string error;
    time_point expires{};
    bool literal = false;
    bool resolving = false;
    /// Datagrams waiting for the first lookup: (bytes, message count).
    std::vector<std::pair<std::string, size_t>> waiting;
  };

  explicit udp_state(datagram_transport_actor::stateful_pointer<udp_state> ptr);
  udp_state(const udp_state&) = delete;
  udp_state& operator=(const udp_state&) = delete;
  ~udp_state();

  void init(udp_config config, std::shared_ptr<udp_socket> sock);
  datagram_transport_actor::behavior_type make_behavior();

  void stop();
  void send(const outbound_list& out);
  void send_datagram(const address& to, std::string bytes, size_t messages);
  void transmit(const destination& d, const address& to,
                const std::string& bytes, size_t messages);
  void start_lookup(const address& name);
  void on_lookup(const address& name, const resolution& r);
  endpoint pick(const std::vector<address>& addrs, bool& ok) const;
  void collect_reader_counters();
  /// True if `dest` (a frame's destination) is an address of this node.
  bool is_local(const address& dest);
  void refresh_local_addresses();
  time_point now() const { return self->clock().now(); }

  datagram_transport_actor::stateful_pointer<udp_state> self;
  std::unique_ptr<detail::shell> sh;
  int fd = -1;
  int wake_fd = -1;
  int family = 0;
  std::thread reader;
  std::shared_ptr<detail::reader_shared> shared;
  address bound;
  address advertised;
  udp_config cfg;
  std::unordered_map<address, destination> dests;
  uint16_t bound_port = 0;
  bool wildcard = false;
  std::set<address> local_addrs;
  time_point local_refreshed{};
  resolver_actor resolver;
};

/// Behaviour of the UDP transport actor on a socket from `bind_udp`.
datagram_transport_actor::behavior_type
udp_transport_behavior(datagram_transport_actor::stateful_pointer<udp_state> self,
                       udp_config cfg, std::shared_ptr<udp_socket> sock);

/// Binds the socket and spawns the transport actor (bind_udp, then
/// udp_transport_behavior). The socket is closed when the actor terminates
/// (tx_close, an exit message, last handle dropped); its reader thread is
/// stopped and joined then.
caf::expected<transport_actor> make_udp_transport(caf::actor_system& sys,
                                                  udp_config cfg);

} // namespace pekonode::transport
