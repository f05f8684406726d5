#include "transport/udp_transport.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <iostream>
#include <thread>
#include <map>

#include "transport/address.h"

namespace pekonode::transport {
namespace {

using namespace std::chrono_literals;

class Udp : public testing::Test {
protected:
  Udp() : sys_(config()), self_(sys_) {}

  ~Udp() override {
    for (auto& t : transports_)
      self_->send(t, tx_close_atom_v);
  }

  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg;
    compat::set_worker_threads(cfg, 2);
    return cfg;
  }

  transport_actor spawn(udp_config cfg) {
    auto t = make_udp_transport(sys_, std::move(cfg));
    EXPECT_TRUE(t) << caf::to_string(t.error());
    if (!t)
      return {};
    transports_.push_back(*t);
    auto me = caf::actor_cast<inbound_sink_actor>(self_);
    self_->send(*t, tx_sub_atom_v, channel::membership, me);
    self_->send(*t, tx_sub_atom_v, channel::metadata, me);
    return *t;
  }

  udp_config named(std::string name, std::string bind = "127.0.0.1:0") {
    udp_config cfg;
    cfg.wire.name = std::move(name);
    cfg.bind = std::move(bind);
    return cfg;
  }

  template <class T, class Atom>
  T ask(const transport_actor& t, Atom a) {
    T out{};
    self_->request(t, 5s, a).receive([&](T& x) { out = std::move(x); },
                                     [&](caf::error& e) {
                                       ADD_FAILURE() << caf::to_string(e);
                                     });
    return out;
  }

  // Waits (bounded, no sleep) for the next inbound message.
  bool next(inbound& out) {
    bool got = false;
    self_->receive([&](inbound& in) { out = std::move(in), got = true; },
                   caf::after(5s) >> [] {});
    return got;
  }

  std::map<std::string, uint64_t> drops(const transport_actor& t) {
    auto st = ask<stats>(t, tx_stats_atom_v);
    return {st.drops.begin(), st.drops.end()};
  }

  caf::actor_system sys_;
  caf::scoped_actor self_;
  std::vector<transport_actor> transports_;
};

TEST_F(Udp, TwoTransportsExchangeMessagesOnLoopback) {
  auto a = spawn(named("a"));
  auto b = spawn(named("b"));
  auto addr_a = ask<address>(a, tx_addr_atom_v);
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  EXPECT_EQ(addr_a.rfind("127.0.0.1:", 0), 0u) << addr_a;
  EXPECT_NE(addr_a, "127.0.0.1:0");
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "ping"},
                            {addr_b, channel::metadata, "kv"}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "ping");
  EXPECT_EQ(in.sender, "a");
  EXPECT_EQ(in.from, addr_a);
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "kv");
  EXPECT_EQ(in.chan, channel::metadata);
  self_->send(b, tx_send_atom_v,
              outbound_list{{addr_a, channel::membership, "pong"}});
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "pong");
  EXPECT_EQ(in.from, addr_b);
  auto st = ask<stats>(a, tx_stats_atom_v);
  EXPECT_EQ(st.datagrams_out, 1u); // both messages shared one datagram
  EXPECT_EQ(st.messages_out, 2u);
  EXPECT_EQ(st.datagrams_in, 1u);
}

TEST_F(Udp, LargeMessageTravelsAloneAboveTheBatchBudget) {
  auto a = spawn(named("a"));
  auto b = spawn(named("b"));
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  std::string big(20000, 'z');
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::metadata, big}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, big);
}

// Whatever a flood does to the queues, every datagram that reaches the
// socket is accounted for exactly once: processed, dropped by a full queue
// ("overload": small and large datagrams are bounded separately, the large
// in bytes) or dropped by the kernel ("kernel_overflow", SO_RXQ_OVFL).
TEST_F(Udp, FloodOfSmallAndLargeDatagramsIsAccountedForExactly) {
  auto cfg = named("b");
  cfg.recv_buffer = 4096; // the kernel rounds it up; small enough to overflow
  cfg.max_pending_bulk_bytes = 64 * 1024;
  cfg.max_pending = 64;
  auto b = spawn(std::move(cfg));
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  auto ep = parse_endpoint(addr_b);
  ASSERT_TRUE(ep.ok());
  int raw = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(raw, 0);
  const std::string small(100, '\x7f');
  const std::string large(30000, '\x7f');
  constexpr uint64_t n = 4000;
  for (uint64_t i = 0; i < n; ++i) {
    auto& d = i % 2 == 0 ? small : large;
    ASSERT_EQ(::sendto(raw, d.data(), d.size(), 0, ep->sa(), ep->len),
              static_cast<ssize_t>(d.size()));
  }
  // The kernel reports its drop count with the next datagram it delivers:
  // slow sentinels after the flood carry the count of the last drops.
  uint64_t sent = n;
  uint64_t seen = 0;
  std::map<std::string, uint64_t> d;
  for (int i = 0; i < 200 && seen < sent; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto st = ask<stats>(b, tx_stats_atom_v);
    d = drops(b);
    seen = st.datagrams_in + d["overload"] + d["kernel_overflow"];
    if (seen < sent && i % 4 == 3) {
      ASSERT_EQ(::sendto(raw, small.data(), small.size(), 0, ep->sa(),
                         ep->len),
                static_cast<ssize_t>(small.size()));
      ++sent;
    }
  }
  ::close(raw);
  EXPECT_EQ(seen, sent) << "processed + overload + kernel_overflow";
  std::cout << "flood of " << n << ": overload " << d["overload"]
            << ", kernel_overflow " << d["kernel_overflow"] << ", bad_version "
            << d["bad_version"] << "\n";
}

TEST_F(Udp, GarbageFromRawSocketIsCountedAndDropped) {
  auto a = spawn(named("a"));
  auto b = spawn(named("b"));
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  auto ep = parse_endpoint(addr_b);
  ASSERT_TRUE(ep.ok());
  int raw = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(raw, 0);
  const std::string junk[] = {
    "garbage",                        // unknown frame format -> bad_version
    std::string("\x01\x00\x02", 3),  // field number 0 -> malformed
    std::string(1, '\x03'),           // encrypted frame, no keyring
    std::string("\x01\x05", 2)};      // label cut short -> truncated
  for (auto& j : junk)
    ASSERT_EQ(::sendto(raw, j.data(), j.size(), 0, ep->sa(), ep->len),
              static_cast<ssize_t>(j.size()));
  ::close(raw);
  // A valid datagram sent after the junk arrives after it: once it is
  // delivered, the junk has been processed.
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "still alive"}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "still alive");
  auto d = drops(b);
  EXPECT_EQ(d["bad_version"], 1u);
  EXPECT_EQ(d["encryption_mismatch"], 1u);
  EXPECT_EQ(d["truncated"], 1u);
  EXPECT_EQ(d["malformed"], 1u);
  EXPECT_EQ(ask<stats>(b, tx_stats_atom_v).datagrams_in, 5u);
}

TEST_F(Udp, EncryptedPairTalksAndOtherLabelIsRejected) {
  auto keys = *keyring::from_secrets({"cluster-secret"});
  auto ca = named("a");
  ca.keys = keys;
  ca.label = "prod";
  auto cb = named("b");
  cb.keys = keys;
  cb.label = "prod";
  auto cc = named("c");
  cc.keys = keys;
  cc.label = "staging";
  auto a = spawn(ca);
  auto b = spawn(cb);
  auto c = spawn(cc);
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  self_->send(c, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "wrong cluster"}});
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "secret hello"}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "secret hello");
  // c's datagram may arrive before or after a's; ask until it is counted.
  uint64_t failed = 0;
  for (int i = 0; i < 100 && failed == 0; ++i)
    failed = drops(b)["auth_failed"];
  EXPECT_EQ(failed, 1u);
}

TEST_F(Udp, PlaintextLabelMismatchIsCountedAsWrongLabel) {
  auto ca = named("a");
  ca.label = "blue";
  auto cb = named("b");
  cb.label = "green";
  auto a = spawn(ca);
  auto b = spawn(cb);
  auto c = spawn(named("c", "127.0.0.1:0"));
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  auto addr_c = ask<address>(c, tx_addr_atom_v);
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "x"}});
  // Flush: b relays nothing, so probe with a datagram of b's own label.
  auto cb2 = named("b2");
  cb2.label = "green";
  auto b2 = spawn(cb2);
  self_->send(b2, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "same label"}});
  inbound in;
  ASSERT_TRUE(next(in));
  uint64_t wrong = 0;
  for (int i = 0; i < 100 && wrong == 0; ++i)
    wrong = drops(b)["wrong_label"];
  EXPECT_EQ(wrong, 1u);
  EXPECT_FALSE(addr_c.empty());
}

TEST_F(Udp, FaultInjectionBlocksPeerAndReportsSettings) {
  auto a = spawn(named("a"));
  auto b = spawn(named("b"));
  auto c = spawn(named("c"));
  auto addr_a = ask<address>(a, tx_addr_atom_v);
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  bool ok = false;
  self_->request(b, 5s, tx_fault_atom_v, faults{0.0, {addr_a}})
    .receive([&]() { ok = true; }, [](caf::error&) {});
  EXPECT_TRUE(ok);
  auto settings = ask<faults>(b, tx_fault_atom_v);
  EXPECT_EQ(settings.drop_rate, 0.0);
  EXPECT_EQ(settings.blocked, std::vector<address>{addr_a});
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "blocked"}});
  self_->send(c, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "allowed"}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "allowed");
  uint64_t injected = 0;
  for (int i = 0; i < 100 && injected == 0; ++i)
    injected = drops(b)["fault_injected"];
  EXPECT_EQ(injected, 1u);
}

TEST_F(Udp, FaultInjectionDelaysInboundDatagramsOnRealSockets) {
  auto a = spawn(named("a"));
  auto b = spawn(named("b"));
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  bool ok = false;
  self_->request(b, 5s, tx_fault_atom_v, faults{0.0, {}, 150, 0})
    .receive([&]() { ok = true; }, [](caf::error&) {});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ask<faults>(b, tx_fault_atom_v).delay_ms, 150u);
  auto sent = std::chrono::steady_clock::now();
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "late"}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "late");
  // Held at least the delay (the clock of the transport's actor system and
  // this one are the same steady clock).
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 150ms);
  EXPECT_GE(in.received - sent, 150ms);
}

TEST_F(Udp, BindFailureIsReportedNotFatal) {
  int raw = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(raw, 0);
  auto ep = *parse_endpoint("127.0.0.1:0");
  ASSERT_EQ(::bind(raw, ep.sa(), ep.len), 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(raw, reinterpret_cast<sockaddr*>(&ss), &len);
  auto taken = to_address(reinterpret_cast<sockaddr*>(&ss), len);
  auto t = make_udp_transport(sys_, named("x", taken));
  ::close(raw);
  ASSERT_FALSE(t);
  EXPECT_EQ(compat::error_code<ec>(t.error()), ec::io_error);
  auto why = reason_of(t.error());
  EXPECT_NE(why.find("cannot bind"), std::string::npos) << why;
  EXPECT_NE(why.find(taken), std::string::npos) << why;
  auto bad = make_udp_transport(sys_, named("x", "not-an-address"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(compat::error_code<ec>(bad.error()), ec::bad_address);
  EXPECT_NE(reason_of(bad.error()).find("missing ':PORT'"), std::string::npos);
}

TEST_F(Udp, AdvertiseIsReportedWithBoundPort) {
  auto cfg = named("a");
  cfg.advertise = "192.0.2.7:0";
  auto a = spawn(cfg);
  auto bound = ask<address>(a, tx_addr_atom_v);
  auto adv = ask<address>(a, tx_adv_atom_v);
  auto port = bound.substr(bound.rfind(':'));
  EXPECT_EQ(adv, "192.0.2.7" + port);
}

TEST_F(Udp, UnresolvableDestinationIsCounted) {
  auto a = spawn(named("a"));
  self_->send(a, tx_send_atom_v,
              outbound_list{{"no-such-host.invalid:1", channel::membership, "x"}});
  // The lookup runs on the resolver's thread: ask until it is counted.
  stats st;
  for (int i = 0; i < 500 && st.send_errors == 0; ++i)
    st = ask<stats>(a, tx_stats_atom_v);
  EXPECT_EQ(st.send_errors, 1u);
  EXPECT_EQ(st.messages_unsent, 1u);
  EXPECT_EQ(st.datagrams_out, 0u);
  EXPECT_TRUE(st.drops.empty()); // inbound reasons only
}

// A host name among the destinations is looked up on the resolver's thread:
// while the lookup hangs, the transport keeps serving everything else, and
// the datagrams for that name wait and leave once it resolves.
TEST_F(Udp, SlowNameLookupDoesNotBlockTheTransport) {
  auto b = spawn(named("b"));
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  auto gate = std::make_shared<std::promise<void>>();
  auto opened = gate->get_future().share();
  // Opens the gate on every way out, so the resolver thread always ends.
  struct opener {
    std::shared_ptr<std::promise<void>> p;
    void open() {
      if (p)
        p->set_value();
      p.reset();
    }
    ~opener() { open(); }
  } guard{gate};
  auto cfg = named("a");
  cfg.resolve = [opened, addr_b](std::string_view name)
    -> result<std::vector<endpoint>> {
    if (name != "slow.test:1")
      return resolve(name);
    opened.wait(); // a lookup that hangs until the test lets it finish
    auto ep = parse_endpoint(addr_b);
    return result<std::vector<endpoint>>::success({*ep});
  };
  auto a = spawn(cfg);
  self_->send(a, tx_send_atom_v,
              outbound_list{{"slow.test:1", channel::membership, "late"}});
  // Meanwhile the actor answers and sends to literal addresses at once.
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "now"}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "now");
  EXPECT_EQ(ask<stats>(a, tx_stats_atom_v).datagrams_out, 1u);
  guard.open();
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "late");
  EXPECT_EQ(ask<stats>(a, tx_stats_atom_v).datagrams_out, 2u);
}

TEST_F(Udp, CloseStopsLinkedActors) {
  auto a = spawn(named("a"));
  auto watcher = sys_.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](int) {}};
  });
  compat::link(a, watcher);
  self_->monitor(watcher);
  self_->send(a, tx_close_atom_v);
  bool down = false;
  self_->receive([&](const caf::down_msg& dm) {
    down = dm.reason == caf::exit_reason::user_shutdown;
  }, caf::after(5s) >> [] {});
  EXPECT_TRUE(down);
  transports_.clear();
}

TEST_F(Udp, Ipv6LoopbackWhenAvailable) {
  auto probe = make_udp_transport(sys_, named("probe", "[::1]:0"));
  if (!probe)
    GTEST_SKIP() << "no IPv6 loopback: " << reason_of(probe.error());
  self_->send(*probe, tx_close_atom_v);
  auto a = spawn(named("a6", "[::1]:0"));
  auto b = spawn(named("b6", "[::1]:0"));
  auto addr_a = ask<address>(a, tx_addr_atom_v);
  auto addr_b = ask<address>(b, tx_addr_atom_v);
  EXPECT_EQ(addr_b.rfind("[::1]:", 0), 0u) << addr_b;
  self_->send(a, tx_send_atom_v,
              outbound_list{{addr_b, channel::membership, "v6"}});
  inbound in;
  ASSERT_TRUE(next(in));
  EXPECT_EQ(in.payload, "v6");
  EXPECT_EQ(in.from, addr_a);
}

} // namespace
} // namespace pekonode::transport
