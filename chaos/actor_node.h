#pragma once
// A whole pekonode node — the real simulated-transport, timer, membership
// and metadata actors composed by node::spawn_node — as a
// chaos::cluster_node on //chaos:simnet. Each node owns a CAF actor system on
// the deterministic test scheduler, whose clock simnet drives, so the timer
// actor's wake-ups fire in virtual time and a run is a pure function of
// (scenario, seed). Datagrams are the
// transport's real framed bytes (batched, enveloped). Not a model: no
// protocol logic here; slower than core_node because every step goes
// through actor mailboxes.

#include <caf/all.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chaos/sim_node.h"
#include "node/node.h"
#include "transport/sim_transport.h"

namespace pekonode::chaos {

class actor_node final : public cluster_node {
public:
  /// Builds the actor system (clock set to `now`) and the node's transport;
  /// the membership and metadata actors are spawned by `join`, as a process
  /// started with its seed list would. `seed` drives the node's randomness.
  actor_node(const node_config& cfg, std::string name, address addr,
             uint64_t seed, int64_t skew_ms, time_point now);
  /// Kills the node's actors (a crash: no leave) and stops the system.
  ~actor_node() override;

  actor_node(const actor_node&) = delete;
  actor_node& operator=(const actor_node&) = delete;

  // -- sim_node ----------------------------------------------------------------
  void on_datagram(const address& from, channel chan,
                   const std::string& payload, time_point now,
                   outbound_list& out) override;
  void poll(time_point now, outbound_list& out) override;
  time_point next_wakeup() const override;

  // -- cluster_node ------------------------------------------------------------
  void join(const std::vector<address>& seeds, time_point now) override;
  void leave(time_point now) override;
  void set_tags(std::map<std::string, std::string> tags,
                time_point now) override;
  metadata::write_result put(const std::string& key, std::string value,
                             time_point now) override;
  std::vector<membership::member> members() const override;
  membership::member self() const override;
  /// Rebuilt from the events the node's membership actor publishes.
  std::vector<membership::member> observed_members() const override;
  std::string store_digest() const override;
  /// Live entries only (the metadata actor lists no tombstones).
  std::optional<metadata::version>
  version_of(const std::string& key) const override;
  uint64_t content_fingerprint() const override;

private:
  struct bridge;

  /// Runs every message and timer of this node due at or before `t`, in
  /// time order, then sets the node's clock to `t`.
  void advance(time_point t);
  /// Moves captured datagrams to `out` and reports captured events.
  void flush(outbound_list& out);
  /// Sends a request from a helper actor and runs until it is answered.
  template <class T, class Handle, class... Ts>
  std::optional<T> ask(const Handle& dest, caf::error* err, Ts... xs) const;
  /// The same for requests whose reply carries no value.
  template <class Handle, class... Ts>
  bool ask_done(const Handle& dest, Ts... xs) const;

  node::node_config cfg_;
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<bridge> bridge_;
  transport::sim_port_actor gateway_;
  transport::datagram_transport_actor transport_;
  membership::member_listener_actor observer_;
  node::node_handle node_;
  bool started_ = false;
  std::map<std::string, membership::member> mirror_; // by name, from events
};

} // namespace pekonode::chaos
