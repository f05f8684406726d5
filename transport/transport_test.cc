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
  EXPECT_EQ(compat::error_code<ec>(err), ec::io_error);
  EXPECT_EQ(reason_of(err), "cannot bind");
  EXPECT_STREQ(to_string(ec::wrong_label), "wrong_label");
  // A plain code converts too, and other categories are not mistaken for it.
  caf::error bare = ec::resolve_failed;
  EXPECT_EQ(compat::error_code<ec>(bare), ec::resolve_failed);
  EXPECT_EQ(reason_of(bare), "");
  caf::error other = caf::sec::request_timeout;
  EXPECT_FALSE(compat::error_code<ec>(other));
  EXPECT_EQ(compat::category_name<ec>(), "transport");
}

TEST(TransportInterface, FaultsAndResolutionsSurviveSerialisation) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  faults f{0.25, {"10.0.0.1:1", "[::1]:2"}};
  resolutions rs{{"db.example:7946", {"10.1.1.1:7946"}, ""},
                 {"gone.invalid:1", {}, "no such host"}};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(f, rs));
  faults f2;
  resolutions rs2;
  caf::binary_deserializer source{sys, buf};
  ASSERT_FALSE(source(f2, rs2));
  EXPECT_EQ(f2.drop_rate, 0.25);
  EXPECT_EQ(f2.blocked, f.blocked);
  ASSERT_EQ(rs2.size(), 2u);
  EXPECT_EQ(rs2[0].addrs, rs[0].addrs);
  EXPECT_EQ(rs2[1].error, "no such host");
}

// The type-ID block numbers pekonode's types densely after CAF's reserved
// range, and the interfaces accept what their documentation says.
TEST(TransportInterface, TypeIdsFollowTheCommonBlock) {
  EXPECT_EQ(caf::id_block::pekonode_common::begin, caf::first_custom_type_id);
  EXPECT_EQ(caf::id_block::pekonode_transport::begin,
            caf::id_block::pekonode_common::end);
  EXPECT_GT(caf::id_block::pekonode_transport::end,
            caf::id_block::pekonode_transport::begin);
  EXPECT_EQ(caf::type_id<inbound>::value,
            caf::id_block::pekonode_transport::begin + 1);
  static_assert(caf::has_type_id<deadline>::value);
  static_assert(caf::has_type_id<inbound_sink_actor>::value);
  // A transport is usable as its narrower interfaces.
  static_assert(std::is_convertible<datagram_transport_actor,
                                    transport_actor>::value);
  static_assert(std::is_convertible<datagram_transport_actor,
                                    datagram_sink_actor>::value);
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
