#include "transport/replay_guard.h"

#include <gtest/gtest.h>

#include "transport/crypto.h"
#include "transport/shell.h"
#include "transport/transport.h"
#include "transport/wire.h"

namespace pekonode::transport {
namespace {

constexpr uint64_t t0 = 1'800'000'000'000; // ms since 1970

// -- the pure guard -------------------------------------------------------------

TEST(ReplayGuard, TakesEachSequenceNumberOnce) {
  replay_guard g{{}, t0};
  EXPECT_EQ(g.check("n1", 7, 1, t0, t0), replay_verdict::accept);
  EXPECT_EQ(g.check("n1", 7, 1, t0, t0), replay_verdict::replayed);
  EXPECT_EQ(g.check("n1", 7, 3, t0, t0), replay_verdict::accept);
  EXPECT_EQ(g.check("n1", 7, 2, t0, t0), replay_verdict::accept); // reordered
  EXPECT_EQ(g.check("n1", 7, 2, t0, t0), replay_verdict::replayed);
  // Another epoch or another sender is another sequence.
  EXPECT_EQ(g.check("n1", 8, 1, t0, t0), replay_verdict::accept);
  EXPECT_EQ(g.check("n2", 7, 1, t0, t0), replay_verdict::accept);
  EXPECT_EQ(g.senders(), 3u);
}

TEST(ReplayGuard, BelowTheWindowIsRefusedNotAdmitted) {
  replay_config cfg;
  cfg.window = 128;
  replay_guard g{cfg, t0};
  EXPECT_EQ(g.check("n1", 1, 10, t0, t0), replay_verdict::accept);
  EXPECT_EQ(g.check("n1", 1, 11 + 128, t0, t0), replay_verdict::accept);
  // Seq 11 was never seen, but it is below the window now.
  EXPECT_EQ(g.check("n1", 1, 11, t0, t0), replay_verdict::replayed);
  EXPECT_EQ(g.check("n1", 1, 12, t0, t0), replay_verdict::accept);
  EXPECT_EQ(g.check("n1", 1, 0, t0, t0), replay_verdict::replayed);
}

TEST(ReplayGuard, FloodOfReplaysDoesNotFlushTheWindow) {
  replay_guard g{{}, t0};
  for (uint64_t s = 1; s <= 100; ++s)
    ASSERT_EQ(g.check("n1", 1, s, t0, t0), replay_verdict::accept);
  for (int i = 0; i < 20'000; ++i)
    ASSERT_EQ(g.check("n1", 1, 1 + i % 100, t0, t0 + 1),
              replay_verdict::replayed);
  EXPECT_EQ(g.check("n1", 1, 1, t0, t0 + 2), replay_verdict::replayed);
  EXPECT_EQ(g.check("n1", 1, 101, t0 + 2, t0 + 2), replay_verdict::accept);
}

TEST(ReplayGuard, TimesOutsideTheSkewOrBeforeStartAreStale) {
  replay_config cfg;
  cfg.max_skew_ms = 10'000;
  replay_guard g{cfg, t0};
  EXPECT_EQ(g.check("n1", 1, 1, t0 - 1, t0 + 5), replay_verdict::stale);
  EXPECT_EQ(g.check("n1", 1, 1, t0 + 100'000, t0 + 100'000 + 10'001),
            replay_verdict::stale);
  EXPECT_EQ(g.check("n1", 1, 1, t0 + 20'001, t0 + 10'000),
            replay_verdict::stale);
  EXPECT_EQ(g.check("n1", 1, 1, t0 + 20'000, t0 + 10'000),
            replay_verdict::accept);
  EXPECT_EQ(g.senders(), 1u); // refused datagrams created no state
}

TEST(ReplayGuard, SenderStateIsBoundedAndEvictionRaisesTheFloor) {
  replay_config cfg;
  cfg.max_senders = 4;
  replay_guard g{cfg, t0};
  for (uint64_t e = 1; e <= 4; ++e)
    ASSERT_EQ(g.check("n1", e, 1, t0 + e, t0 + 10), replay_verdict::accept);
  // A fifth sender evicts the one whose newest datagram is oldest (epoch 1).
  EXPECT_EQ(g.check("n1", 5, 1, t0 + 5, t0 + 10), replay_verdict::accept);
  EXPECT_EQ(g.senders(), 4u);
  EXPECT_EQ(g.evictions(), 1u);
  EXPECT_EQ(g.floor_ms(), t0 + 2);
  // Its datagram, replayed, cannot come back through a fresh state.
  EXPECT_EQ(g.check("n1", 1, 1, t0 + 1, t0 + 10), replay_verdict::stale);
  // Later datagrams of that epoch are taken again.
  EXPECT_EQ(g.check("n1", 1, 2, t0 + 9, t0 + 10), replay_verdict::accept);
}

// -- the receive path: sealed datagrams between shells ---------------------------

struct clock_ref {
  uint64_t ms = t0;
};

// One node's transport shell with its own clock and address.
struct node {
  node(std::string name, address addr, clock_ref& clk, uint64_t epoch)
    : addr_(std::move(addr)) {
    wire_config wc;
    wc.name = std::move(name);
    wc.epoch = epoch;
    detail::shell_env env;
    env.wall_ms = [&clk] { return clk.ms; };
    env.is_local = [a = addr_](const address& d) { return d == a; };
    auto keys = keyring::from_secrets({"replay-test-key"});
    sh = std::make_unique<detail::shell>(wire{wc, framer{*keys, "c"}}, 1,
                                         std::move(env));
  }

  // Seals one membership message for `to`.
  std::string send_to(const address& to, std::string body = "m") {
    auto batch = sh->prepare(time_point{},
                             outbound_list{{to, channel::membership, body}});
    EXPECT_EQ(batch.datagrams.size(), 1u);
    auto sealed = sh->seal(time_point{}, to, batch.datagrams.at(0).bytes, 1);
    EXPECT_TRUE(sealed.has_value());
    return sealed ? *sealed : std::string{};
  }

  // Feeds one datagram; true if its message was delivered.
  bool take(const std::string& dg, const inbound_sink_actor& sink) {
    sh->subscribe(channel::membership, sink);
    std::vector<detail::delivery> out;
    sh->receive(time_point{}, "127.0.0.1:9", dg, out);
    return out.size() == 1;
  }

  uint64_t drops(ec reason) { return sh->drops().get(to_string(reason)); }

  address addr_;
  std::unique_ptr<detail::shell> sh;
};

class ReplayPath : public ::testing::Test {
protected:
  ReplayPath() : sys_(cfg_) {
    sink_ = sys_.spawn([]() -> inbound_sink_actor::behavior_type {
      return {[](const inbound&) {}};
    });
  }
  ~ReplayPath() override { caf::anon_send_exit(sink_, caf::exit_reason::kill); }

  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  inbound_sink_actor sink_;
  clock_ref clk_;
};

TEST_F(ReplayPath, ADatagramForAnotherNodeIsRefused) {
  node a{"a", "10.0.0.1:7946", clk_, 11};
  node b{"b", "10.0.0.2:7946", clk_, 12};
  node c{"c", "10.0.0.3:7946", clk_, 13};
  auto dg = a.send_to(b.addr_);
  EXPECT_FALSE(c.take(dg, sink_));
  EXPECT_EQ(c.drops(ec::wrong_destination), 1u);
  EXPECT_TRUE(b.take(dg, sink_));
  EXPECT_FALSE(b.take(dg, sink_));
  EXPECT_EQ(b.drops(ec::replayed), 1u);
}

TEST_F(ReplayPath, AReceiverRestartDoesNotReviveCapturedDatagrams) {
  node a{"a", "10.0.0.1:7946", clk_, 11};
  auto b = std::make_unique<node>("b", "10.0.0.2:7946", clk_, 12);
  auto dg = a.send_to(b->addr_);
  EXPECT_TRUE(b->take(dg, sink_));
  clk_.ms += 300; // b restarts 0.3 s later, well within the skew
  b = std::make_unique<node>("b", "10.0.0.2:7946", clk_, 99);
  EXPECT_FALSE(b->take(dg, sink_));
  EXPECT_EQ(b->drops(ec::stale), 1u);
  // A captured datagram b never saw before its restart is refused too.
  clk_.ms -= 200;
  auto unseen = a.send_to(b->addr_);
  clk_.ms += 200;
  EXPECT_FALSE(b->take(unseen, sink_));
  // The sender's new datagrams are taken.
  clk_.ms += 1;
  EXPECT_TRUE(b->take(a.send_to(b->addr_), sink_));
}

TEST_F(ReplayPath, EveryNodeRestartingDoesNotReviveCapturedDatagrams) {
  auto a = std::make_unique<node>("a", "10.0.0.1:7946", clk_, 11);
  auto b = std::make_unique<node>("b", "10.0.0.2:7946", clk_, 12);
  auto dg = a->send_to(b->addr_);
  clk_.ms += 1000;
  a = std::make_unique<node>("a", "10.0.0.1:7946", clk_, 21);
  b = std::make_unique<node>("b", "10.0.0.2:7946", clk_, 22);
  EXPECT_FALSE(b->take(dg, sink_));
  EXPECT_EQ(b->drops(ec::stale), 1u);
  EXPECT_TRUE(b->take(a->send_to(b->addr_), sink_));
}

TEST_F(ReplayPath, ASenderRestartWithANewEpochKeepsItsOldDatagramsDead) {
  auto a = std::make_unique<node>("a", "10.0.0.1:7946", clk_, 11);
  node b{"b", "10.0.0.2:7946", clk_, 12};
  auto old1 = a->send_to(b.addr_);
  auto old2 = a->send_to(b.addr_);
  EXPECT_TRUE(b.take(old1, sink_));
  EXPECT_TRUE(b.take(old2, sink_));
  clk_.ms += 500;
  a = std::make_unique<node>("a", "10.0.0.1:7946", clk_, 31); // sequence from 1
  auto fresh = a->send_to(b.addr_);
  EXPECT_TRUE(b.take(fresh, sink_));
  EXPECT_FALSE(b.take(old1, sink_));
  EXPECT_FALSE(b.take(old2, sink_));
  EXPECT_EQ(b.drops(ec::replayed), 2u);
  // And once they are older than the skew, by time alone.
  clk_.ms += b.sh->pipeline().config().replay.max_skew_ms + 1;
  EXPECT_FALSE(b.take(old1, sink_));
  EXPECT_EQ(b.drops(ec::stale), 1u);
}

TEST_F(ReplayPath, TwentyThousandReplaysThenAnOldDatagramAreAllRefused) {
  node a{"a", "10.0.0.1:7946", clk_, 11};
  node b{"b", "10.0.0.2:7946", clk_, 12};
  auto oldest = a.send_to(b.addr_);
  EXPECT_TRUE(b.take(oldest, sink_));
  std::vector<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    seen.push_back(a.send_to(b.addr_));
    ASSERT_TRUE(b.take(seen.back(), sink_));
  }
  for (int i = 0; i < 20'000; ++i)
    ASSERT_FALSE(b.take(seen[i % seen.size()], sink_));
  EXPECT_FALSE(b.take(oldest, sink_));
  EXPECT_EQ(b.drops(ec::replayed), 20'001u);
  EXPECT_TRUE(b.take(a.send_to(b.addr_), sink_));
}

TEST_F(ReplayPath, AnOldTimestampIsRefusedEvenWhenNeverSeen) {
  node a{"a", "10.0.0.1:7946", clk_, 11};
  clk_.ms += 1;
  node b{"b", "10.0.0.2:7946", clk_, 12};
  clk_.ms += 60'000;
  // Sealed a minute ago (the sender's clock at that time), delivered now.
  clk_.ms -= 60'000;
  auto dg = a.send_to(b.addr_);
  clk_.ms += 60'000;
  EXPECT_FALSE(b.take(dg, sink_));
  EXPECT_EQ(b.drops(ec::stale), 1u);
}

TEST_F(ReplayPath, PlaintextFramesCarryNoProtection) {
  // Documented limit: without a keyring nothing authenticates a header,
  // so the same datagram is taken every time.
  wire_config wc;
  wc.name = "p";
  detail::shell plain{wire{wc, framer{keyring{}, "c"}}, 1};
  plain.subscribe(channel::membership, sink_);
  auto batch = plain.prepare(time_point{},
                             outbound_list{{"10.0.0.2:7946", channel::membership, "m"}});
  auto dg = plain.seal(time_point{}, "10.0.0.2:7946", batch.datagrams.at(0).bytes, 1);
  ASSERT_TRUE(dg.has_value());
  for (int i = 0; i < 3; ++i) {
    std::vector<detail::delivery> out;
    plain.receive(time_point{}, "127.0.0.1:9", *dg, out);
    EXPECT_EQ(out.size(), 1u);
  }
}

TEST(Frame, HeaderRoundTripsAndEarlierFormatIsRefusedClearly) {
  auto keys = keyring::from_secrets({"k"});
  framer f{*keys, "c"};
  frame_header h{42, 7, t0, "[2001:db8::1]:7946"};
  auto sealed = f.seal("env", h);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(static_cast<uint8_t>((*sealed)[0]), frame_sealed);
  frame_header got;
  auto opened = f.open(*sealed, &got);
  ASSERT_TRUE(opened.ok()) << opened.message;
  EXPECT_EQ(*opened, "env");
  EXPECT_EQ(got.epoch, 42u);
  EXPECT_EQ(got.seq, 7u);
  EXPECT_EQ(got.sent_ms, t0);
  EXPECT_EQ(got.dest, h.dest);
  auto old = *sealed;
  old[0] = static_cast<char>(frame_xchacha);
  auto refused = f.open(old);
  EXPECT_EQ(refused.code, ec::bad_version);
  EXPECT_NE(refused.message.find("earlier pekonode"), std::string::npos);
  h.dest = std::string(max_frame_destination + 1, 'x');
  EXPECT_EQ(f.seal("env", h).code, ec::field_too_large);
  EXPECT_LE(sealed->size(), 3 + f.overhead());
}

} // namespace
} // namespace pekonode::transport
