// The metadata actor without any membership layer: its peers come from the
// test through the peer interface, wake-ups from the timer actor, datagrams
// from simulated transports, all in virtual time.

#include "metadata/metadata_actor.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "node/init.h"
#include "transport/sim_transport.h"

namespace pekonode::metadata {
namespace {

using namespace std::chrono_literals;

class MetadataActor : public testing::Test {
protected:
  MetadataActor() {
    pekonode::init(cfg_);
    compat::use_test_scheduler(cfg_);
    compat::quiet_caf_logger(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &compat::test_scheduler(*sys_);
    hub_ = transport::make_sim_hub(*sys_);
    auto* clk = &sched_->clock();
    wall_ = [clk] {
      return uint64_t{1700000000000}
             + static_cast<uint64_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(
                 clk->now().time_since_epoch())
                 .count());
    };
  }

  ~MetadataActor() override {
    for (auto& a : actors_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(hub_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  metadata_actor node(const std::string& name, const address& addr) {
    auto tx = transport::make_sim_transport(*sys_, hub_, addr, name);
    auto timer = transport::make_timer(*sys_);
    actor_config cfg;
    cfg.protocol = config::local();
    cfg.node_id = name;
    cfg.seed = 7;
    cfg.wall_ms = wall_;
    auto md = spawn_metadata(*sys_, cfg, tx, timer);
    for (auto a : {caf::actor_cast<caf::actor>(md),
                   caf::actor_cast<caf::actor>(tx),
                   caf::actor_cast<caf::actor>(timer)})
      actors_.push_back(a);
    sched_->run();
    return md;
  }

  void run_for(duration d) {
    for (duration t{}; t < d; t += 5ms) {
      sched_->advance_time(5ms);
      sched_->run();
    }
  }

  /// Sends a request from a helper actor; the value or the error.
  template <class T, class... Ts>
  caf::expected<T> ask(const metadata_actor& dest, Ts... xs) {
    auto out = std::make_shared<caf::expected<T>>(caf::sec::request_timeout);
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...)
        .then([=](T& x) { *out = std::move(x); },
              [=](caf::error& e) { *out = std::move(e); });
    });
    sched_->run();
    return *out;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  transport::sim_hub_actor hub_;
  std::function<uint64_t()> wall_;
  std::vector<caf::actor> actors_;
};

// Peers come only through md_peer: without them a write stays local, and
// once a source announces a peer, anti-entropy brings the other node up to
// date.
TEST_F(MetadataActor, PeersFromAnySourceDriveReplication) {
  auto a = node("a", "10.0.0.1:7946");
  auto b = node("b", "10.0.0.2:7946");
  auto ver = ask<version>(a, md_put_atom_v, std::string{"k"}, std::string{"v"});
  ASSERT_TRUE(ver) << sys_->render(ver.error());
  EXPECT_EQ(ver->origin, "a");
  EXPECT_GT(ver->hlc, 0u);
  run_for(3s);
  EXPECT_EQ(compat::error_code<ec>(
              ask<std::string>(b, md_get_atom_v, std::string{"k"}).error()),
            ec::not_found);
  caf::anon_send(a, md_peer_atom_v, peer_change{"b", "10.0.0.2:7946", true});
  caf::anon_send(b, md_peer_atom_v, peer_change{"a", "10.0.0.1:7946", true});
  sched_->run();
  run_for(1s);
  auto got = ask<std::string>(b, md_get_atom_v, std::string{"k"});
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "v");
  auto items = ask<std::vector<kv_item>>(b, md_list_atom_v);
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ(items->front().ver, *ver); // a version, not its text
  // Peers that are no longer live exchange nothing more.
  caf::anon_send(a, md_peer_atom_v, peer_change{"b", "10.0.0.2:7946", false});
  caf::anon_send(b, md_peer_atom_v, peer_change{"a", "10.0.0.1:7946", false});
  sched_->run();
  ASSERT_TRUE(ask<version>(a, md_put_atom_v, std::string{"k2"}, std::string{"x"}));
  run_for(3s);
  EXPECT_FALSE(ask<std::string>(b, md_get_atom_v, std::string{"k2"}));
}

TEST_F(MetadataActor, ErrorsAreTypedWithTheirContext) {
  auto a = node("a", "10.0.0.1:7946");
  auto missing = ask<std::string>(a, md_get_atom_v, std::string{"nope"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(compat::error_code<ec>(missing.error()), ec::not_found);
  auto del = ask<version>(a, md_del_atom_v, std::string{"nope"});
  ASSERT_FALSE(del);
  EXPECT_EQ(compat::error_code<ec>(del.error()), ec::not_found);
  auto limit = config::local().limits.max_value_bytes;
  auto big = ask<version>(a, md_put_atom_v, std::string{"big"},
                          std::string(limit + 1, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(compat::error_code<ec>(big.error()), ec::value_too_large);
  EXPECT_EQ(describe(big.error()),
            "value_too_large: key 'big' is " + std::to_string(limit + 1)
              + " bytes, limit " + std::to_string(limit));
  EXPECT_EQ(sys_->render(big.error()),
            "metadata: value_too_large (key 'big' is "
              + std::to_string(limit + 1) + " bytes, limit "
              + std::to_string(limit) + ")");
  auto empty = ask<version>(a, md_put_atom_v, std::string{}, std::string{"v"});
  EXPECT_EQ(compat::error_code<ec>(empty.error()), ec::empty_key);
}

TEST_F(MetadataActor, ListenersGetEveryChangeInOrder) {
  auto a = node("a", "10.0.0.1:7946");
  auto seen = std::make_shared<std::vector<kv_change>>();
  auto listener = sys_->spawn([seen]() -> key_listener_actor::behavior_type {
    return {[seen](md_event_atom, const kv_change& c) { seen->push_back(c); }};
  });
  actors_.push_back(caf::actor_cast<caf::actor>(listener));
  caf::anon_send(a, md_sub_atom_v, listener);
  sched_->run();
  auto v1 = ask<version>(a, md_put_atom_v, std::string{"x"}, std::string{"1"});
  auto v2 = ask<version>(a, md_put_atom_v, std::string{"x"}, std::string{"2"});
  auto v3 = ask<version>(a, md_del_atom_v, std::string{"x"});
  ASSERT_TRUE(v1 && v2 && v3);
  EXPECT_TRUE(*v1 < *v2);
  EXPECT_TRUE(*v2 < *v3);
  ASSERT_EQ(seen->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*seen)[i].index, i + 1);
    EXPECT_TRUE((*seen)[i].local);
  }
  EXPECT_EQ((*seen)[1].ver, *v2);
  EXPECT_TRUE((*seen)[2].deleted);
  auto batch = ask<change_batch>(a, md_changes_atom_v, uint64_t{1});
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->head, 3u);
  ASSERT_EQ(batch->changes.size(), 2u);
  EXPECT_EQ(batch->changes[0].index, 2u);
  // A listener that terminates is dropped, not sent to.
  caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
  sched_->run();
  ASSERT_TRUE(ask<version>(a, md_put_atom_v, std::string{"y"}, std::string{"1"}));
  EXPECT_EQ(seen->size(), 3u);
}

// md_write: compare-and-set in one message, and replicas=K answered only
// once K nodes hold the write (or with the count at the deadline).
TEST_F(MetadataActor, WriteWithCasAndReplicas) {
  auto a = node("a", "10.0.0.1:7946");
  auto b = node("b", "10.0.0.2:7946");
  auto c = node("c", "10.0.0.3:7946");
  std::vector<std::pair<metadata_actor, std::string>> all{
    {a, "a"}, {b, "b"}, {c, "c"}};
  std::map<std::string, std::string> addr{
    {"a", "10.0.0.1:7946"}, {"b", "10.0.0.2:7946"}, {"c", "10.0.0.3:7946"}};
  for (auto& [x, xn] : all)
    for (auto& [y, yn] : all)
      if (xn != yn)
        caf::anon_send(x, md_peer_atom_v, peer_change{yn, addr[yn], true});
  sched_->run();
  // Create-only, then a stale CAS naming the live version.
  write_request create;
  create.key = "k";
  create.value = "v1";
  create.has_cas = true;
  create.create_only = true;
  auto w1 = ask<write_reply>(a, md_write_atom_v, create);
  ASSERT_TRUE(w1) << sys_->render(w1.error());
  EXPECT_EQ(w1->acked, 1u);
  auto again = ask<write_reply>(a, md_write_atom_v, create);
  ASSERT_FALSE(again);
  EXPECT_EQ(compat::error_code<ec>(again.error()), ec::cas_mismatch);
  EXPECT_EQ(describe(again.error()),
            "cas_mismatch: key 'k' is at version " + to_string(w1->ver));
  write_request set = create;
  set.create_only = false;
  set.cas = w1->ver;
  set.value = "v2";
  set.replicas = 3;
  set.timeout_ms = 2000;
  // The reply comes once b and c hold it: in virtual time, later.
  auto out = std::make_shared<caf::expected<write_reply>>(
    caf::sec::request_timeout);
  sys_->spawn([=](caf::event_based_actor* self) {
    self->request(a, caf::infinite, md_write_atom_v, set)
      .then([=](write_reply& r) { *out = std::move(r); },
            [=](caf::error& e) { *out = std::move(e); });
  });
  sched_->run();
  run_for(500ms);
  ASSERT_TRUE(*out) << sys_->render(out->error());
  EXPECT_EQ((*out)->acked, 3u);
  EXPECT_EQ((*out)->wanted, 3u);
  for (auto& n : {b, c})
    EXPECT_EQ(*ask<std::string>(n, md_get_atom_v, std::string{"k"}), "v2");
  // More replicas than live nodes: refused, nothing written.
  set.cas = (*out)->ver;
  set.replicas = 4;
  auto four = ask<write_reply>(a, md_write_atom_v, set);
  ASSERT_FALSE(four);
  EXPECT_EQ(compat::error_code<ec>(four.error()), ec::too_few_members);
  EXPECT_EQ(*ask<std::string>(a, md_get_atom_v, std::string{"k"}), "v2");
  set.replicas = 0;
  auto zero = ask<write_reply>(a, md_write_atom_v, set);
  ASSERT_FALSE(zero);
  EXPECT_EQ(compat::error_code<ec>(zero.error()), ec::bad_option);
  EXPECT_EQ(describe(zero.error()), "bad_option: replicas must be 1..16");
  // c stops answering (its transport is gone) while a still counts it a
  // peer: K=3 times out saying 2 of 3, the write stays applied.
  caf::anon_send_exit(actors_[7], caf::exit_reason::user_shutdown); // c's tx
  sched_->run();
  write_request del;
  del.key = "k";
  del.del = true;
  del.replicas = 3;
  del.timeout_ms = 1000;
  auto late = std::make_shared<caf::expected<write_reply>>(
    caf::sec::request_timeout);
  sys_->spawn([=](caf::event_based_actor* self) {
    self->request(a, caf::infinite, md_write_atom_v, del)
      .then([=](write_reply& r) { *late = std::move(r); },
            [=](caf::error& e) { *late = std::move(e); });
  });
  sched_->run();
  run_for(500ms);
  EXPECT_TRUE(late->error() == caf::sec::request_timeout); // not yet
  run_for(700ms);
  ASSERT_FALSE(*late);
  EXPECT_EQ(compat::error_code<ec>(late->error()), ec::replicas_timeout);
  auto text = describe(late->error());
  EXPECT_NE(text.find("2 of 3 nodes held key 'k'"), std::string::npos)
    << text;
  EXPECT_EQ(compat::error_code<ec>(
              ask<std::string>(a, md_get_atom_v, std::string{"k"}).error()),
            ec::not_found); // deleted here all the same
}

TEST(VersionText, ParsesWhatToStringPrints) {
  version v{make_hlc(1732800000123, 7), "node-1"};
  version back;
  ASSERT_TRUE(parse_version(to_string(v), back));
  EXPECT_EQ(back, v);
  for (const char* bad :
       {"", "0", "1.2", "1@x", ".1@x", "1.@x", "1.2@", "a.2@x", "1.b@x",
        "1.70000@x", "99999999999999999999.0@x", "1.2@bad origin",
        "-1.2@x"})
    EXPECT_FALSE(parse_version(bad, back)) << bad;
}

// A snapshot is one message's copy of the whole store, tombstones included:
// restored into a fresh node it gives the same digest, spreads from there to
// its peers, and a damaged or oversized one is refused by name.
TEST_F(MetadataActor, SnapshotRestoresIntoAnotherNodeAndSpreads) {
  auto a = node("a", "10.0.0.1:7946");
  auto b = node("b", "10.0.0.2:7946");
  auto c = node("c", "10.0.0.3:7946");
  ASSERT_TRUE(ask<version>(a, md_put_atom_v, std::string{"k1"},
                           std::string{"v1"}));
  ASSERT_TRUE(ask<version>(a, md_put_atom_v, std::string{"k2"},
                           std::string(100 * 1024, 'x')));
  ASSERT_TRUE(ask<version>(a, md_put_atom_v, std::string{"gone"},
                           std::string{"v"}));
  ASSERT_TRUE(ask<version>(a, md_del_atom_v, std::string{"gone"}));
  auto snap = ask<std::string>(a, md_snap_atom_v, uint64_t{1} << 30);
  ASSERT_TRUE(snap) << sys_->render(snap.error());

  auto small = ask<std::string>(a, md_snap_atom_v, uint64_t{1000});
  ASSERT_FALSE(small);
  EXPECT_EQ(compat::error_code<ec>(small.error()), ec::snapshot_too_large);
  EXPECT_NE(describe(small.error()).find("limit 1000"), std::string::npos)
    << describe(small.error());

  auto bad = *snap;
  bad[bad.size() / 2] ^= 1;
  auto refused = ask<restore_summary>(b, md_restore_atom_v, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(compat::error_code<ec>(refused.error()), ec::bad_snapshot);
  EXPECT_NE(describe(refused.error()).find("fails its checksum"),
            std::string::npos)
    << describe(refused.error());
  auto cut = ask<restore_summary>(b, md_restore_atom_v,
                                  snap->substr(0, snap->size() - 3));
  ASSERT_FALSE(cut);
  EXPECT_NE(describe(cut.error()).find("truncated"), std::string::npos)
    << describe(cut.error());
  EXPECT_FALSE(ask<std::string>(b, md_get_atom_v, std::string{"k1"}));

  // b and c are peers; a is not involved any more.
  caf::anon_send(b, md_peer_atom_v, peer_change{"c", "10.0.0.3:7946", true});
  caf::anon_send(c, md_peer_atom_v, peer_change{"b", "10.0.0.2:7946", true});
  sched_->run();
  auto sum = ask<restore_summary>(b, md_restore_atom_v, *snap);
  ASSERT_TRUE(sum) << sys_->render(sum.error());
  EXPECT_EQ(sum->records, 3u);
  EXPECT_EQ(sum->applied, 3u);
  EXPECT_EQ(sum->tombstones, 1u);
  EXPECT_EQ(sum->source_node, "a");
  EXPECT_EQ(*ask<std::string>(b, md_digest_atom_v),
            *ask<std::string>(a, md_digest_atom_v));
  // Restoring the same snapshot again changes nothing.
  auto again = ask<restore_summary>(b, md_restore_atom_v, *snap);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->applied, 0u);
  EXPECT_EQ(again->stale, 3u);
  run_for(3s);
  EXPECT_EQ(*ask<std::string>(c, md_get_atom_v, std::string{"k1"}), "v1");
  EXPECT_EQ(ask<std::string>(c, md_get_atom_v, std::string{"k2"})->size(),
            100u * 1024);
  EXPECT_EQ(*ask<std::string>(c, md_digest_atom_v),
            *ask<std::string>(a, md_digest_atom_v));
}

} // namespace
} // namespace pekonode::metadata
