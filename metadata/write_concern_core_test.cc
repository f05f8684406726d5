// Compare-and-set and write concern through the metadata core: checks and
// writes in one step, replicas=K on a simulated network with loss, dying
// targets and large values, acknowledgements only after the shell reports
// the entry durable, and hostile hold / ack traffic.

#include <iostream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "metadata/core.h"
#include "metadata/metadata.pb.h"
#include "metadata/test_net.h"

namespace pekonode::metadata {
namespace {

using testing::test_net;

constexpr uint64_t wall = 1'700'000'000'000ULL;
const time_point t0{seconds(100)};

std::string encode(const Message& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

/// The shell's part: every applied change (and every entry a peer asked
/// for that was already held) is reported durable at once, unless
/// `durable` is off for that node.
void durable_at_once(test_net& net, std::vector<bool>* durable = nullptr) {
  net.after_call = [&net, durable](size_t i, outbound_list& out) {
    if (durable && !(*durable)[i])
      return;
    std::vector<held_entry> held = net.node(i).drain_held();
    for (auto& ev : net.node(i).drain_events())
      held.push_back(held_entry{ev.key, ev.value.ver});
    net.node(i).on_durable(held, out);
  };
}

/// A write through node i with options; output sent.
write_result write(test_net& net, size_t i, const std::string& k,
                   const std::string& v, write_options o) {
  outbound_list out;
  auto r = net.node(i).write(k, v, o, net.wall(i), net.now(), out);
  if (net.after_call)
    net.after_call(i, out);
  net.send(i, out);
  return r;
}

write_options replicas(size_t k, time_point deadline) {
  write_options o;
  o.replicas = k;
  o.deadline = deadline;
  return o;
}

/// Runs until node i reports the write `id` done (or `limit` passes).
std::optional<concern_done> wait_done(test_net& net, size_t i, uint64_t id,
                                      duration limit) {
  std::optional<concern_done> got;
  net.run_until_true(
    [&] {
      for (auto& d : net.node(i).drain_concerns())
        if (d.id == id)
          got = d;
      return got.has_value();
    },
    limit, milliseconds(5));
  return got;
}

size_t holders(test_net& net, const std::string& k, const version& v) {
  size_t n = 0;
  for (size_t i = 0; i < net.size(); ++i) {
    auto e = net.node(i).data().find(k);
    if (e && !(e->ver < v))
      ++n;
  }
  return n;
}

/// Node i dies: nobody reaches it, and the others drop it from their peers.
void kill(test_net& net, size_t dead) {
  for (size_t j = 0; j < net.size(); ++j)
    if (j != dead)
      net.cut(dead, j);
  for (size_t j = 0; j < net.size(); ++j) {
    if (j == dead)
      continue;
    std::vector<address> ps;
    for (size_t k = 0; k < net.size(); ++k)
      if (k != j && k != dead)
        ps.push_back(net.addr(k));
    net.node(j).set_peers(ps);
  }
}

// -- compare-and-set ------------------------------------------------------------

TEST(CompareAndSet, CreateOnlySucceedsOnceAndNamesTheLiveVersion) {
  core c(config::lan(), "a", 1);
  outbound_list out;
  write_options create;
  create.has_cas = true;
  create.create_only = true;
  auto r = c.write("k", "v1", create, wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  auto again = c.write("k", "v2", create, wall, t0, out);
  EXPECT_EQ(again.code, ec::cas_mismatch);
  EXPECT_EQ(again.current, r.ver);
  EXPECT_EQ(c.get("k")->value, "v1");
  // After a delete, the key has no live value: create-only works again.
  ASSERT_EQ(c.del("k", wall, t0, out).code, ec::ok);
  EXPECT_EQ(c.write("k", "v3", create, wall, t0, out).code, ec::ok);
}

TEST(CompareAndSet, SetAndDeleteOnlyAtTheNamedVersion) {
  core c(config::lan(), "a", 1);
  outbound_list out;
  auto v1 = c.put("k", "one", wall, t0, out).ver;
  auto v2 = c.put("k", "two", wall, t0, out).ver;
  write_options o;
  o.has_cas = true;
  o.cas = v1; // stale
  auto r = c.write("k", "three", o, wall, t0, out);
  EXPECT_EQ(r.code, ec::cas_mismatch);
  EXPECT_EQ(r.current, v2);
  EXPECT_EQ(c.get("k")->value, "two");
  o.cas = v2;
  r = c.write("k", "three", o, wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_EQ(c.get("k")->value, "three");
  // Delete with the old version fails, with the current one succeeds.
  o.del = true;
  EXPECT_EQ(c.write("k", "", o, wall, t0, out).code, ec::cas_mismatch);
  o.cas = r.ver;
  EXPECT_EQ(c.write("k", "", o, wall, t0, out).code, ec::ok);
  EXPECT_EQ(c.get("k"), nullptr);
  // On a deleted key any version mismatches, and names none.
  auto gone = c.write("k", "x", o, wall, t0, out);
  EXPECT_EQ(gone.code, ec::cas_mismatch);
  EXPECT_TRUE(gone.current.origin.empty());
  write_options plain_del;
  plain_del.del = true;
  EXPECT_EQ(c.write("k", "", plain_del, wall, t0, out).code, ec::not_found);
}

TEST(CompareAndSet, ConcurrentWritersOnTheSameVersionOneWins) {
  core c(config::lan(), "a", 1);
  outbound_list out;
  auto base = c.put("counter", "0", wall, t0, out).ver;
  write_options o;
  o.has_cas = true;
  o.cas = base;
  int won = 0;
  for (int i = 0; i < 10; ++i)
    won += c.write("counter", std::to_string(i + 1), o, wall, t0, out).code
           == ec::ok;
  EXPECT_EQ(won, 1);
  EXPECT_EQ(c.get("counter")->value, "1");
}

// -- refusals before anything is written ----------------------------------------

TEST(WriteConcernCore, RefusesWhatCannotBeMetWithoutWriting) {
  auto cfg = config::lan();
  cfg.max_pending_writes = 1;
  core c(cfg, "a", 1);
  c.set_peers({"p1", "p2"});
  outbound_list out;
  EXPECT_EQ(c.write("k", "v", replicas(0, t0), wall, t0, out).code,
            ec::bad_option);
  EXPECT_EQ(c.write("k", "v", replicas(cfg.max_replicas + 1, t0), wall, t0,
                    out).code,
            ec::bad_option);
  EXPECT_EQ(c.write("k", "v", replicas(4, t0), wall, t0, out).code,
            ec::too_few_members);
  EXPECT_EQ(c.get("k"), nullptr);
  EXPECT_TRUE(out.empty());
  auto r = c.write("k", "v", replicas(3, t0 + seconds(5)), wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_NE(r.concern, 0u);
  EXPECT_EQ(c.write("k2", "v", replicas(2, t0 + seconds(5)), wall, t0, out)
              .code,
            ec::too_many_writes);
  EXPECT_EQ(c.get("k2"), nullptr);
  // Local writes are not bounded by the pending replicated ones.
  EXPECT_EQ(c.write("k3", "v", replicas(1, t0), wall, t0, out).code, ec::ok);
}

// -- replicas=K on a simulated network --------------------------------------------

TEST(WriteConcernCore, ReturnsOnceKNodesHoldIt) {
  test_net net(5, config::local(), 11);
  durable_at_once(net);
  net.run_for(seconds(1));
  auto r = write(net, 0, "k", "v", replicas(3, net.now() + seconds(5)));
  ASSERT_EQ(r.code, ec::ok);
  auto d = wait_done(net, 0, r.concern, seconds(5));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->ok());
  EXPECT_EQ(d->acked, 3u);
  // At that moment at least K nodes hold it (acks are sent after apply).
  EXPECT_GE(holders(net, "k", r.ver), 3u);
  EXPECT_GE(net.node(0).get_stats().writes_replicated, 1u);
}

TEST(WriteConcernCore, AllNodesAndDeletesUnderLoss) {
  for (uint64_t seed : {21, 22, 23}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    test_net net(4, config::local(), seed);
    net.net_faults.loss = 0.3;
    durable_at_once(net);
    net.run_for(seconds(1));
    auto r = write(net, 1, "k", "v", replicas(4, net.now() + seconds(10)));
    ASSERT_EQ(r.code, ec::ok);
    auto d = wait_done(net, 1, r.concern, seconds(10));
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->ok());
    EXPECT_EQ(holders(net, "k", r.ver), 4u);
    write_options del = replicas(3, net.now() + seconds(10));
    del.del = true;
    auto rd = write(net, 2, "k", "", del);
    ASSERT_EQ(rd.code, ec::ok);
    auto dd = wait_done(net, 2, rd.concern, seconds(10));
    ASSERT_TRUE(dd);
    EXPECT_TRUE(dd->ok());
    EXPECT_GE(holders(net, "k", rd.ver), 3u);
  }
}

TEST(WriteConcernCore, DeadTargetsAreReplaced) {
  test_net net(6, config::local(), 31);
  durable_at_once(net);
  net.run_for(seconds(1));
  // Nodes 1-3 die silently: the writer still counts them as peers for a
  // while (membership has not noticed), then they are removed.
  for (size_t dead : {1, 2, 3})
    for (size_t j = 0; j < net.size(); ++j)
      if (j != dead)
        net.cut(dead, j);
  auto r = write(net, 0, "k", "v", replicas(3, net.now() + seconds(5)));
  ASSERT_EQ(r.code, ec::ok);
  auto d = wait_done(net, 0, r.concern, seconds(5));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->ok()) << d->acked; // nodes 4 and 5 were asked in the end
  EXPECT_TRUE(net.node(4).get("k") && net.node(5).get("k"));
}

TEST(WriteConcernCore, TimesOutSayingHowManyHeldIt) {
  test_net net(3, config::local(), 41);
  durable_at_once(net);
  net.run_for(seconds(1));
  kill(net, 2);
  auto r = write(net, 0, "k", "v", replicas(2, net.now() + seconds(1)));
  ASSERT_EQ(r.code, ec::ok);
  EXPECT_TRUE(wait_done(net, 0, r.concern, seconds(1))->ok());
  // Only two nodes live now but the writer still sees node 2 as a peer
  // until membership says otherwise: K=3 is accepted and times out.
  net.node(0).set_peers({net.addr(1), net.addr(2)});
  auto r3 = write(net, 0, "k3", "v", replicas(3, net.now() + seconds(2)));
  ASSERT_EQ(r3.code, ec::ok);
  auto d = wait_done(net, 0, r3.concern, seconds(3));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->ok());
  EXPECT_EQ(d->acked, 2u);
  EXPECT_EQ(d->wanted, 3u);
  EXPECT_NE(net.node(0).get("k3"), nullptr); // still applied locally
  EXPECT_EQ(net.node(0).get_stats().writes_replica_timeouts, 1u);
  EXPECT_EQ(net.node(0).pending_writes(), 0u);
}

TEST(WriteConcernCore, LargeValueIsAcknowledgedAfterItsPull) {
  auto cfg = config::local();
  test_net net(3, cfg, 51);
  durable_at_once(net);
  net.run_for(seconds(1));
  std::string big(512 * 1024, 'b');
  auto r = write(net, 0, "big", big, replicas(3, net.now() + seconds(10)));
  ASSERT_EQ(r.code, ec::ok);
  auto d = wait_done(net, 0, r.concern, seconds(10));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->ok());
  for (size_t i = 1; i < 3; ++i) {
    auto e = net.node(i).data().find("big");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->value, big);
  }
}

TEST(WriteConcernCore, NoAcknowledgementBeforeTheEntryIsDurable) {
  test_net net(2, config::local(), 61);
  std::vector<bool> durable{true, false};
  durable_at_once(net, &durable);
  net.run_for(seconds(1));
  auto r = write(net, 0, "k", "v", replicas(2, net.now() + seconds(2)));
  ASSERT_EQ(r.code, ec::ok);
  // Node 1 applied it but never reported it durable: no ack.
  auto d = wait_done(net, 0, r.concern, milliseconds(1500));
  EXPECT_FALSE(d);
  EXPECT_NE(net.node(1).get("k"), nullptr);
  EXPECT_EQ(net.node(1).get_stats().holds_acked, 0u);
  // Once it is (e.g. its store's commit finished), the ack goes out.
  durable[1] = true;
  d = wait_done(net, 0, r.concern, seconds(1));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->ok());
}

// -- hostile traffic ---------------------------------------------------------------

TEST(WriteConcernCore, AcksFromNonMembersOrForUnknownWritesAreDropped) {
  core c(config::local(), "a", 1);
  c.set_peers({"p1", "p2"});
  outbound_list out;
  auto r = c.write("k", "v", replicas(2, t0 + seconds(5)), wall, t0, out);
  ASSERT_EQ(r.code, ec::ok);
  address asked;
  for (auto& o : out) {
    Message m;
    ASSERT_TRUE(m.ParseFromString(o.payload));
    if (m.has_hold()) {
      asked = o.to;
      EXPECT_EQ(m.hold().id(), r.concern);
    }
  }
  ASSERT_FALSE(asked.empty());
  auto ack = [&](uint64_t id, const std::string& key) {
    Message m;
    m.mutable_hold_ack()->set_id(id);
    m.mutable_hold_ack()->set_key(key);
    m.mutable_hold_ack()->mutable_version()->set_hlc(r.ver.hlc);
    m.mutable_hold_ack()->mutable_version()->set_origin(r.ver.origin);
    return encode(m);
  };
  out.clear();
  c.handle("stranger", ack(r.concern, "k"), wall, t0, out);
  c.handle(asked, ack(r.concern + 1, "k"), wall, t0, out);
  c.handle(asked, ack(r.concern, "other"), wall, t0, out);
  auto other = asked == "p1" ? "p2" : "p1";
  c.handle(other, ack(r.concern, "k"), wall, t0, out);
  EXPECT_TRUE(out.empty()); // acks are never answered
  EXPECT_TRUE(c.drain_concerns().empty());
  auto& rej = c.get_stats().rejects;
  EXPECT_EQ(rej.at("hold_ack_not_a_peer"), 1u);
  EXPECT_EQ(rej.at("hold_ack_unknown"), 1u);
  EXPECT_EQ(rej.at("hold_ack_mismatch"), 1u);
  EXPECT_EQ(rej.at("hold_ack_unasked"), 1u);
  c.handle(asked, ack(r.concern, "k"), wall, t0, out);
  auto done = c.drain_concerns();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].ok());
}

TEST(WriteConcernCore, HoldFloodIsBoundedAndDrawsNoMoreThanItSends) {
  auto cfg = config::local();
  core c(cfg, "a", 1);
  c.set_peers({"evil"});
  outbound_list out;
  size_t sent_bytes = 0;
  for (uint64_t id = 1; id <= 1000; ++id) {
    Message m;
    auto* h = m.mutable_hold();
    h->set_id(id);
    auto* e = h->mutable_updates()->add_entries();
    e->set_key("k" + std::to_string(id % 300));
    e->mutable_version()->set_hlc(make_hlc(wall, static_cast<uint16_t>(id)));
    e->mutable_version()->set_origin("evil");
    e->set_value("v");
    auto payload = encode(m);
    sent_bytes += payload.size();
    c.handle("evil", payload, wall, t0, out);
  }
  // Nothing is acknowledged until the shell says durable; what is kept is
  // bounded per peer.
  EXPECT_LE(c.owed_holds(), cfg.max_owed_holds_per_peer);
  EXPECT_GT(c.get_stats().rejects.at("holds_owed_peer_full"), 0u);
  std::vector<held_entry> held = c.drain_held();
  for (auto& ev : c.drain_events())
    held.push_back(held_entry{ev.key, ev.value.ver});
  out.clear();
  c.on_durable(held, out);
  size_t acks = 0, ack_bytes = 0;
  for (auto& o : out) {
    Message m;
    ASSERT_TRUE(m.ParseFromString(o.payload));
    if (m.has_hold_ack()) {
      ++acks;
      ack_bytes += o.payload.size();
      EXPECT_EQ(o.to, "evil");
    }
  }
  EXPECT_LE(acks, cfg.max_owed_holds_per_peer);
  EXPECT_LT(ack_bytes, sent_bytes);
  std::cout << "hold flood: 1000 holds, " << sent_bytes << " B in; " << acks
            << " acks, " << ack_bytes << " B out; owed kept "
            << c.owed_holds() << "\n";
  // Holds from non-members are not kept at all, malformed ones neither.
  Message m;
  m.mutable_hold()->set_id(5);
  m.mutable_hold()->mutable_updates(); // no entry
  c.handle("evil", encode(m), wall, t0, out);
  c.handle("stranger", encode(m), wall, t0, out);
  EXPECT_EQ(c.get_stats().rejects.at("hold_malformed"), 1u);
  EXPECT_EQ(c.get_stats().rejects.at("hold_not_a_peer"), 1u);
}

} // namespace
} // namespace pekonode::metadata
