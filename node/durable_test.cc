// The data dir seen from the node: what open_data_dir reads back and writes
// at start (boot epoch, leases, peers), the membership snapshot's rules, and
// the metadata actor writing through a durable store: a write is answered
// once on disk, is there after a reopen, and a write the disk refuses is
// undone (down to the last durable entry, also for writes in flight at once).
// Real threads: the group committer answers from its own thread.

#include "node/durable.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>

#include "node/init.h"
#include "node/node.h"
#include "storage/test_util.h"
#include "transport/sim_transport.h"

namespace pekonode::node {
namespace {

using namespace std::chrono_literals;
using storage::testing::fresh_data_dir;

membership::member mem(std::string name, std::string addr, uint64_t inc,
                       membership::member_state s) {
  membership::member m;
  m.name = std::move(name);
  m.addr = std::move(addr);
  m.incarnation = inc;
  m.state = s;
  return m;
}

TEST(MembershipSnapshot, KeepsPeersThatDidNotLeaveAliveFirstWithoutSelf) {
  using ms = membership::member_state;
  std::vector<membership::member> view{
    mem("a", "10.0.0.1:7946", 3, ms::dead),
    mem("b", "10.0.0.2:7946", 1, ms::left),
    mem("c", "10.0.0.3:7946", 2, ms::alive),
    mem("me", "10.0.0.9:7946", 5, ms::alive),
    mem("d", "10.0.0.4:7946", 7, ms::suspect),
  };
  auto snap = membership_snapshot_of(view, "me", 100);
  ASSERT_EQ(snap.peers.size(), 3u);
  EXPECT_EQ(snap.peers[0].name, "c");
  EXPECT_EQ(snap.peers[0].state, "alive");
  EXPECT_EQ(snap.peers[1].name, "a");
  EXPECT_EQ(snap.peers[2].name, "d");
  EXPECT_EQ(snap.incarnation, 100u) << "inc 5 is far below the ceiling";
}

TEST(MembershipSnapshot, RaisesTheIncarnationCeilingWithinHalfAStep) {
  std::vector<membership::member> view{
    mem("me", "10.0.0.9:7946", 90, membership::member_state::alive)};
  auto snap = membership_snapshot_of(view, "me", 100);
  EXPECT_EQ(snap.incarnation, 90 + incarnation_lease_step);
  view[0].incarnation = 130; // beyond the ceiling (must never happen, but)
  EXPECT_EQ(membership_snapshot_of(view, "me", 100).incarnation,
            130 + incarnation_lease_step);
}

TEST(MembershipSnapshot, BoundsThePeers) {
  std::vector<membership::member> view;
  for (size_t i = 0; i < max_snapshot_peers + 50; ++i)
    view.push_back(mem("p" + std::to_string(i), "10.1.0.1:" + std::to_string(i),
                       1, membership::member_state::alive));
  EXPECT_EQ(membership_snapshot_of(view, "me", 0).peers.size(),
            max_snapshot_peers);
}

constexpr uint64_t wall = 1'700'000'000'000;

TEST(OpenDataDir, FirstStartThenRestartComesBackAboveEverything) {
  auto path = fresh_data_dir();
  uint64_t ceiling = 0;
  {
    durable_state d;
    ASSERT_EQ(open_data_dir(path, {"c", "n1"}, wall, d), "");
    EXPECT_EQ(d.boot_epoch, 1u);
    EXPECT_EQ(d.incarnation, 0u);
    EXPECT_GT(d.incarnation_ceiling, 0u);
    EXPECT_GE(d.hlc_ceiling, metadata::make_hlc(wall, 0));
    EXPECT_TRUE(d.records->empty());
    ceiling = d.incarnation_ceiling;
    // A peer, as the snapshot actor would write it.
    storage::write_batch b;
    storage::membership_snapshot m;
    m.incarnation = ceiling;
    m.peers.push_back({"n2", "127.0.0.1:9000", 4, "dead"});
    m.peers.push_back({"n3", "127.0.0.1:9001", 4, "left"});
    b.set_membership(m);
    std::promise<bool> done;
    d.store->commit->submit(std::move(b), [&](const storage::status& s) {
      done.set_value(s.ok());
    });
    ASSERT_TRUE(done.get_future().get());
  }
  durable_state d;
  // The wall clock went back an hour: versions still go forward.
  ASSERT_EQ(open_data_dir(path, {"c", "n1"}, wall - 3'600'000, d), "");
  EXPECT_EQ(d.boot_epoch, 2u);
  EXPECT_EQ(d.incarnation, ceiling + 1);
  EXPECT_GE(d.hlc_high_water, metadata::make_hlc(wall, 0));
  EXPECT_GT(d.hlc_ceiling, d.hlc_high_water);
  EXPECT_EQ(d.peers, std::vector<std::string>{"127.0.0.1:9000"});
}

TEST(OpenDataDir, RefusesAnotherNodesDirWithOneLine) {
  auto path = fresh_data_dir();
  {
    durable_state d;
    ASSERT_EQ(open_data_dir(path, {"c", "n1"}, wall, d), "");
  }
  durable_state d;
  auto err = open_data_dir(path, {"c", "n2"}, wall, d);
  EXPECT_NE(err.find("belongs to node"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
  EXPECT_EQ(d.store, nullptr);
}

/// A metadata actor on a simulated transport, writing through `store`.
class DurableMetadata : public testing::Test {
protected:
  DurableMetadata() {
    pekonode::init(cfg_);
    compat::quiet_caf_logger(cfg_);
    compat::set_worker_threads(cfg_, 2);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }

  ~DurableMetadata() override { stop(); }

  void start(durable_state& d) {
    auto hub = transport::make_sim_hub(*sys_);
    auto tx = transport::make_sim_transport(*sys_, hub, "127.0.0.1:1", "n1");
    auto timer = transport::make_timer(*sys_);
    metadata::actor_config cfg;
    cfg.protocol = metadata::config::local();
    cfg.node_id = "n1";
    cfg.seed = 1;
    cfg.durable.store = d.store;
    cfg.durable.records = d.records;
    cfg.durable.hlc_high_water = d.hlc_high_water;
    cfg.durable.hlc_ceiling = d.hlc_ceiling;
    md_ = metadata::spawn_metadata(*sys_, cfg, tx, timer);
    others_ = {caf::actor_cast<caf::actor>(hub), caf::actor_cast<caf::actor>(tx),
               caf::actor_cast<caf::actor>(timer)};
  }

  void stop() {
    if (!md_)
      return;
    caf::anon_send_exit(md_, caf::exit_reason::user_shutdown);
    for (auto& a : others_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    md_ = nullptr;
    others_.clear();
    sys_->await_all_actors_done();
  }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts... xs) {
    caf::scoped_actor self{*sys_};
    caf::expected<T> out{caf::sec::request_timeout};
    self->request(md_, 10s, xs...)
      .receive([&](T& x) { out = std::move(x); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  metadata::metadata_actor md_;
  std::vector<caf::actor> others_;
};

TEST_F(DurableMetadata, AWriteIsAnsweredOnceOnDiskAndIsThereAfterAReopen) {
  auto path = fresh_data_dir();
  metadata::version v1, v2;
  {
    durable_state d;
    ASSERT_EQ(open_data_dir(path, {"", "n1"}, wall, d), "");
    start(d);
    auto r = ask<metadata::version>(metadata::md_put_atom_v,
                                    std::string{"k"}, std::string{"v"});
    ASSERT_TRUE(r) << sys_->render(r.error());
    v1 = *r;
    // Answered: its batch was acknowledged durable by the committer.
    EXPECT_GE(d.store->commit->stats().batches, 1u);
    auto del = ask<metadata::version>(metadata::md_del_atom_v,
                                      std::string{"gone"});
    EXPECT_FALSE(del) << "deleting an absent key";
    r = ask<metadata::version>(metadata::md_put_atom_v, std::string{"gone"},
                               std::string{"x"});
    ASSERT_TRUE(r);
    r = ask<metadata::version>(metadata::md_del_atom_v, std::string{"gone"});
    ASSERT_TRUE(r);
    v2 = *r;
    stop();
  }
  durable_state d;
  ASSERT_EQ(open_data_dir(path, {"", "n1"}, wall, d), "");
  std::map<std::string, storage::record> got;
  for (auto& r : *d.records)
    got[r.key] = r;
  ASSERT_EQ(got.count("k"), 1u);
  EXPECT_EQ(got["k"].value, "v");
  EXPECT_EQ(got["k"].hlc, v1.hlc);
  ASSERT_EQ(got.count("gone"), 1u);
  EXPECT_TRUE(got["gone"].tombstone);
  EXPECT_EQ(got["gone"].hlc, v2.hlc);
  EXPECT_GE(d.hlc_high_water, v2.hlc);
  // Loaded into the actor: served at once, and new versions are higher.
  start(d);
  auto v = ask<std::string>(metadata::md_get_atom_v, std::string{"k"});
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "v");
  EXPECT_FALSE(ask<std::string>(metadata::md_get_atom_v, std::string{"gone"}));
  auto r = ask<metadata::version>(metadata::md_put_atom_v, std::string{"k"},
                                  std::string{"w"});
  ASSERT_TRUE(r);
  EXPECT_GT(r->hlc, v2.hlc);
}

TEST_F(DurableMetadata, AWriteTheDiskRefusesIsUndoneToTheLastDurableEntry) {
  auto path = fresh_data_dir();
  auto dir = storage::data_dir::open(path, {"", "n1"});
  ASSERT_TRUE(dir) << dir.message();
  storage::store_options opts;
  opts.max_bytes = 1536 * 1024; // room for about two 512 KiB values
  auto st = storage::store::open(std::move(*dir), opts);
  ASSERT_TRUE(st) << st.message();
  durable_state d;
  d.store = std::make_shared<metadata::durable_store>();
  d.store->store = std::move(*st);
  d.store->commit = std::make_unique<storage::group_commit>(*d.store->store);
  d.records = std::make_shared<std::vector<storage::record>>();
  start(d);
  std::string last = "small and durable";
  ASSERT_TRUE(ask<metadata::version>(metadata::md_put_atom_v, std::string{"k"},
                                     last));
  caf::error refused;
  std::string refused_key;
  for (int i = 0; i < 10 && !refused; ++i) {
    refused_key = "fill/" + std::to_string(i);
    auto r = ask<metadata::version>(metadata::md_put_atom_v, refused_key,
                                    std::string(512 * 1024, 'f'));
    if (!r)
      refused = r.error();
  }
  ASSERT_TRUE(refused) << "the size bound was never reached";
  EXPECT_EQ(result_code_of(refused), result_code::insufficient_storage);
  EXPECT_NE(describe(refused).find("disk full"), std::string::npos)
    << describe(refused);
  EXPECT_FALSE(ask<std::string>(metadata::md_get_atom_v, refused_key))
    << "the refused new key is visible";
  auto r = ask<metadata::version>(metadata::md_put_atom_v, std::string{"k"},
                                  std::string(512 * 1024, 'g'));
  ASSERT_FALSE(r) << "a 512 KiB value fit after the bound was reached";
  auto v = ask<std::string>(metadata::md_get_atom_v, std::string{"k"});
  ASSERT_TRUE(v);
  EXPECT_TRUE(*v == last) << "the refused write is still visible";
  // Two writes of the same key in flight at once, both refused: the second
  // is undone past the first, to the last durable value.
  {
    caf::scoped_actor self{*sys_};
    int failed = 0;
    // Plain sends: both are in the actor's mailbox before either is
    // answered; the answers come back as messages.
    for (char c : {'x', 'y'})
      self->send(md_, metadata::md_put_atom_v, std::string{"k"},
                 std::string(512 * 1024, c));
    for (int i = 0; i < 2; ++i)
      self->receive([](const metadata::version&) {},
                    [&](const caf::error&) { ++failed; },
                    caf::after(std::chrono::seconds(10)) >> [] {});
    EXPECT_EQ(failed, 2);
  }
  v = ask<std::string>(metadata::md_get_atom_v, std::string{"k"});
  ASSERT_TRUE(v);
  EXPECT_TRUE(*v == last) << "a chain of refused writes left one visible";
  // Small writes still fit.
  EXPECT_TRUE(ask<metadata::version>(metadata::md_put_atom_v,
                                     std::string{"small"}, std::string{"s"}));
}

} // namespace
} // namespace pekonode::node
