// The delay fault of the shared receive path: the bounded delay queue, the
// delay and jitter applied to arriving datagrams, and the wakes it asks for.
#include "transport/shell.h"

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

namespace pekonode::transport {
namespace {

using namespace std::chrono_literals;

const time_point t0 = time_point{} + 1h;

TEST(DelayQueue, ReleasesInDueOrderWithArrivalOrderOnTies) {
  detail::delay_queue q{16, 1024};
  EXPECT_FALSE(q.next_due().has_value());
  ASSERT_TRUE(q.push(t0 + 30ms, "a:1", "late"));
  ASSERT_TRUE(q.push(t0 + 10ms, "a:1", "first"));
  ASSERT_TRUE(q.push(t0 + 20ms, "a:1", "tie-1"));
  ASSERT_TRUE(q.push(t0 + 20ms, "a:1", "tie-2"));
  EXPECT_EQ(q.next_due(), t0 + 10ms);
  std::vector<detail::delay_queue::held> out;
  q.pop_due(t0 + 9ms, out);
  EXPECT_TRUE(out.empty());
  q.pop_due(t0 + 20ms, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].bytes, "first");
  EXPECT_EQ(out[1].bytes, "tie-1");
  EXPECT_EQ(out[2].bytes, "tie-2");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.bytes(), 4u);
  EXPECT_EQ(q.next_due(), t0 + 30ms);
  out.clear();
  q.pop_due(t0 + 1s, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(DelayQueue, RefusesWhatExceedsTheCountOrByteBound) {
  detail::delay_queue by_count{3, 1 << 20};
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(by_count.push(t0, "a:1", "x"));
  EXPECT_FALSE(by_count.push(t0, "a:1", "x"));
  EXPECT_EQ(by_count.size(), 3u);

  detail::delay_queue by_bytes{100, 10};
  EXPECT_TRUE(by_bytes.push(t0, "a:1", std::string(6, 'x')));
  EXPECT_FALSE(by_bytes.push(t0, "a:1", std::string(5, 'x')));
  EXPECT_TRUE(by_bytes.push(t0, "a:1", std::string(4, 'x')));
  EXPECT_FALSE(by_bytes.push(t0, "a:1", "y"));
  EXPECT_EQ(by_bytes.bytes(), 10u);
  // Space freed by a release is usable again.
  std::vector<detail::delay_queue::held> out;
  by_bytes.pop_due(t0, out);
  EXPECT_TRUE(by_bytes.push(t0, "a:1", std::string(10, 'x')));
}

class DelayFault : public ::testing::Test {
protected:
  DelayFault()
    : sys_(cfg_),
      sender_(wire{named("s"), framer{keyring{}, "c"}}, 1),
      receiver_(wire{named("r"), framer{keyring{}, "c"}}, 7) {
    sink_ = sys_.spawn([]() -> inbound_sink_actor::behavior_type {
      return {[](const inbound&) {}};
    });
    receiver_.subscribe(channel::membership, sink_);
  }

  static wire_config named(std::string name) {
    wire_config wc;
    wc.name = std::move(name);
    return wc;
  }

  std::string datagram(const std::string& body) {
    auto batch = sender_.prepare(
      t0, outbound_list{{"10.0.0.2:7946", channel::membership, body}});
    auto dg = sender_.seal(t0, "10.0.0.2:7946", batch.datagrams.at(0).bytes, 1);
    EXPECT_TRUE(dg.has_value());
    return dg ? *dg : std::string{};
  }

  uint64_t drops(const std::string& reason) {
    return receiver_.drops().get(reason);
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  inbound_sink_actor sink_;
  detail::shell sender_;
  detail::shell receiver_;
};

TEST_F(DelayFault, FixedDelayHoldsEachDatagramExactlyThatLong) {
  receiver_.set_faults(faults{0.0, {}, 50, 0});
  std::vector<detail::delivery> out;
  receiver_.receive(t0, "10.0.0.1:7946", datagram("a"), out);
  receiver_.receive(t0 + 5ms, "10.0.0.1:7946", datagram("b"), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(receiver_.snapshot().inbound_delayed, 2u);
  EXPECT_EQ(receiver_.snapshot().datagrams_in, 2u); // counted on arrival
  EXPECT_EQ(receiver_.wake_to_arm(t0 + 5ms), t0 + 50ms);
  receiver_.release(t0 + 49ms, out);
  EXPECT_TRUE(out.empty());
  receiver_.release(t0 + 50ms, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].msg.payload, "a");
  EXPECT_EQ(out[0].msg.received, t0 + 50ms); // its arrival, as the node sees it
  EXPECT_EQ(receiver_.wake_to_arm(t0 + 50ms), t0 + 55ms);
  receiver_.release(t0 + 55ms, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].msg.payload, "b");
  EXPECT_EQ(receiver_.snapshot().inbound_delayed, 0u);
  EXPECT_FALSE(receiver_.wake_to_arm(t0 + 55ms).has_value());
}

TEST_F(DelayFault, JitterStaysInRangeSpreadsAndReorders) {
  receiver_.set_faults(faults{0.0, {}, 50, 40});
  auto dg = datagram("x");
  std::vector<detail::delivery> out;
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i)
    receiver_.receive(t0, "10.0.0.1:7946", dg, out);
  ASSERT_TRUE(out.empty());
  // Release millisecond by millisecond: nothing before 10 ms, all by 90 ms.
  std::vector<int> per_ms(100, 0);
  for (int ms = 0; ms < 100; ++ms) {
    size_t before = out.size();
    receiver_.release(t0 + std::chrono::milliseconds(ms), out);
    per_ms[ms] = static_cast<int>(out.size() - before);
  }
  EXPECT_EQ(out.size(), static_cast<size_t>(n));
  int early = 0, late = 0, low = 0, high = 0;
  for (int ms = 0; ms < 100; ++ms) {
    if (ms < 10)
      early += per_ms[ms];
    if (ms > 90)
      late += per_ms[ms];
    if (ms >= 10 && ms <= 30)
      low += per_ms[ms];
    if (ms >= 70 && ms <= 90)
      high += per_ms[ms];
  }
  EXPECT_EQ(early, 0);
  EXPECT_EQ(late, 0);
  // Uniform over 80 ms: each 20 ms quarter holds about n/4 = 500.
  EXPECT_GT(low, 350);
  EXPECT_GT(high, 350);
}

TEST_F(DelayFault, LaterDatagramsOvertakeUnderJitter) {
  receiver_.set_faults(faults{0.0, {}, 50, 40});
  std::vector<detail::delivery> out;
  for (int i = 0; i < 50; ++i)
    receiver_.receive(t0 + std::chrono::milliseconds(i), "10.0.0.1:7946",
                      datagram(std::to_string(i)), out);
  receiver_.release(t0 + 1s, out);
  ASSERT_EQ(out.size(), 50u);
  bool reordered = false;
  for (size_t i = 1; i < out.size(); ++i)
    reordered |= std::stoi(out[i].msg.payload) < std::stoi(out[i - 1].msg.payload);
  EXPECT_TRUE(reordered);
}

TEST_F(DelayFault, AFloodIsBoundedAndCountedAsDelayOverflow) {
  receiver_.set_faults(faults{0.0, {}, 10'000, 0});
  auto dg = datagram("flood");
  std::vector<detail::delivery> out;
  for (size_t i = 0; i < max_delayed + 500; ++i)
    receiver_.receive(t0, "10.0.0.1:7946", dg, out);
  EXPECT_EQ(receiver_.delayed().size(), max_delayed);
  EXPECT_EQ(drops("delay_overflow"), 500u);
  EXPECT_EQ(receiver_.snapshot().inbound_delayed, max_delayed);
  // Big datagrams hit the byte bound long before the count bound.
  detail::shell big{wire{named("b"), framer{keyring{}, "c"}}, 3};
  big.set_faults(faults{0.0, {}, 10'000, 0});
  std::string junk(60'000, 'j');
  for (int i = 0; i < 100; ++i)
    big.receive(t0, "10.0.0.1:7946", junk, out);
  EXPECT_EQ(big.delayed().size(), max_delayed_bytes / junk.size());
  EXPECT_LE(big.delayed().bytes(), max_delayed_bytes);
  EXPECT_EQ(big.drops().get("delay_overflow"),
            100u - max_delayed_bytes / junk.size());
}

TEST_F(DelayFault, DropsAndBlocksApplyBeforeTheDelay) {
  receiver_.set_faults(faults{1.0, {}, 50, 10});
  std::vector<detail::delivery> out;
  receiver_.receive(t0, "10.0.0.1:7946", datagram("a"), out);
  EXPECT_EQ(receiver_.delayed().size(), 0u);
  EXPECT_EQ(drops("fault_injected"), 1u);
}

TEST_F(DelayFault, SettingsAreClampedAndReportedBack) {
  receiver_.set_faults(faults{0.0, {}, 99'999, 99'999});
  auto f = receiver_.current_faults();
  EXPECT_EQ(f.delay_ms, max_fault_delay_ms);
  EXPECT_EQ(f.jitter_ms, max_fault_delay_ms);
  receiver_.set_faults(faults{0.0, {}, 20, 30});
  f = receiver_.current_faults();
  EXPECT_EQ(f.delay_ms, 20u);
  EXPECT_EQ(f.jitter_ms, 20u); // jitter never exceeds the delay
}

TEST_F(DelayFault, ClearingTheDelayStillReleasesWhatIsHeld) {
  receiver_.set_faults(faults{0.0, {}, 50, 0});
  std::vector<detail::delivery> out;
  receiver_.receive(t0, "10.0.0.1:7946", datagram("held"), out);
  receiver_.set_faults(faults{});
  receiver_.receive(t0 + 1ms, "10.0.0.1:7946", datagram("direct"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].msg.payload, "direct");
  receiver_.release(t0 + 50ms, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].msg.payload, "held");
}

TEST_F(DelayFault, WakesAreArmedOnlyWhenEarlierAndStayBounded) {
  receiver_.set_faults(faults{0.0, {}, 1000, 1000});
  auto dg = datagram("w");
  std::vector<detail::delivery> out;
  // Arrivals whose due times only ever get earlier: each needs a wake of
  // its own, up to the bound.
  size_t armed = 0;
  for (int i = 0; i < 1000; ++i) {
    receiver_.set_faults(faults{0.0, {}, static_cast<uint32_t>(2000 - i), 0});
    receiver_.receive(t0, "10.0.0.1:7946", dg, out);
    if (receiver_.wake_to_arm(t0))
      ++armed;
  }
  EXPECT_EQ(armed, detail::shell::max_wakes);
  // A later due time never needs a new wake while an earlier one is armed.
  receiver_.set_faults(faults{0.0, {}, 5000, 0});
  receiver_.receive(t0, "10.0.0.1:7946", dg, out);
  EXPECT_FALSE(receiver_.wake_to_arm(t0).has_value());
  // Each fired wake releases what is due and arms the next one.
  receiver_.release(t0 + 10s, out);
  EXPECT_EQ(out.size(), 1001u);
  EXPECT_FALSE(receiver_.wake_to_arm(t0 + 10s).has_value());
}

} // namespace
} // namespace pekonode::transport
