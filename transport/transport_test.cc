#include "transport/transport.h"

#include "transport/shell.h"

#include <gtest/gtest.h>

namespace pekonode::transport {
namespace {

TEST(TransportInterface, InboundSurvivesSerialisation) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  inbound in{"10.0.0.1:7946", "node-a", channel::metadata, "payload",
             time_point{duration{123456789}}};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(in));
  inbound out;
  caf::binary_deserializer source{sys, buf};
  ASSERT_FALSE(source(out));
  EXPECT_EQ(out.from, in.from);
  EXPECT_EQ(out.sender, in.sender);
  EXPECT_EQ(out.chan, channel::metadata);
  EXPECT_EQ(out.payload, in.payload);
  EXPECT_EQ(out.received, in.received);
  EXPECT_NE(caf::deep_to_string(in).find("node-a"), std::string::npos);
}

TEST(TransportInterface, OutboundAndStatsSurviveSerialisation) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  outbound o{"[::1]:1", channel::metadata, "x"};
  stats st;
  st.datagrams_in = 3;
  st.messages_out = 9;
  st.drops = {{"truncated", 2}};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(o, st));
  outbound o2;
  stats st2;
  caf::binary_deserializer source{sys, buf};
  ASSERT_FALSE(source(o2, st2));
  EXPECT_EQ(o2.to, o.to);
  EXPECT_EQ(o2.chan, channel::metadata);
  EXPECT_EQ(st2.datagrams_in, 3u);
  EXPECT_EQ(st2.messages_out, 9u);
  ASSERT_EQ(st2.drops.size(), 1u);
  EXPECT_EQ(st2.drops[0].second, 2u);
}

TEST(TransportInterface, ErrorCarriesCodeAndReason) {
  auto err = make_error(ec::io_error, "cannot bind");
  EXPECT_EQ(err.category(), caf::atom("transport"));
  EXPECT_EQ(static_cast<ec>(err.code()), ec::io_error);
  EXPECT_EQ(err.context().get_as<std::string>(0), "cannot bind");
  EXPECT_STREQ(to_string(ec::wrong_label), "wrong_label");
}

TEST(LogLimiter, AllowsBurstThenOnePerIntervalAndReportsSuppressed) {
  detail::log_limiter lim{2, std::chrono::seconds(1)};
  time_point t{};
  uint64_t suppressed = 99;
  EXPECT_TRUE(lim.allow(t, suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_TRUE(lim.allow(t, suppressed));
  EXPECT_FALSE(lim.allow(t, suppressed));
  EXPECT_FALSE(lim.allow(t + std::chrono::milliseconds(999), suppressed));
  EXPECT_TRUE(lim.allow(t + std::chrono::seconds(1), suppressed));
  EXPECT_EQ(suppressed, 2u);
  EXPECT_FALSE(lim.allow(t + std::chrono::seconds(1), suppressed));
}

} // namespace
} // namespace pekonode::transport
