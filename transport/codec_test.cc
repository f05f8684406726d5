#include "transport/codec.h"

#include <gtest/gtest.h>

#include <random>

#include "transport/envelope.pb.h"

namespace pekonode::transport {
namespace {

envelope sample() {
  envelope env;
  env.sender = "node-a";
  env.messages.push_back({channel::membership, "ping"});
  env.messages.push_back({channel::metadata, std::string(300, 'x')});
  env.messages.push_back({channel::membership, ""});
  return env;
}

// Appends a protobuf varint.
void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<char>((x & 0x7f) | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<char>(x));
}

TEST(Codec, RoundTripKeepsSenderChannelsAndOrder) {
  auto env = sample();
  auto bytes = encode(env);
  auto got = decode(bytes);
  ASSERT_TRUE(got.ok()) << to_string(got.code) << ": " << got.message;
  EXPECT_EQ(got->sender, "node-a");
  ASSERT_EQ(got->messages.size(), 3u);
  EXPECT_EQ(got->messages[0].chan, channel::membership);
  EXPECT_EQ(got->messages[0].body, "ping");
  EXPECT_EQ(got->messages[1].chan, channel::metadata);
  EXPECT_EQ(got->messages[1].body, std::string(300, 'x'));
  EXPECT_EQ(got->messages[2].body, "");
}

TEST(Codec, EncodingMatchesGeneratedProtobuf) {
  auto bytes = encode(sample());
  Envelope pb;
  ASSERT_TRUE(pb.ParseFromString(bytes));
  EXPECT_EQ(pb.version(), envelope_version);
  EXPECT_EQ(pb.messages_size(), 3);
  EXPECT_EQ(decode(pb.SerializeAsString())->messages.size(), 3u);
}

TEST(Codec, WireSizeFormulasAreExact) {
  for (size_t sender : {0u, 1u, 127u, 128u}) {
    for (size_t body : {0u, 1u, 127u, 128u, 20000u}) {
      envelope env;
      env.sender.assign(sender, 's');
      EXPECT_EQ(encode(env).size(), header_wire_size(sender));
      env.messages.push_back({channel::metadata, std::string(body, 'b')});
      EXPECT_EQ(encode(env).size(),
                header_wire_size(sender) + message_wire_size(channel::metadata, body));
    }
  }
}

TEST(Codec, RejectsEmptyAsTruncated) {
  EXPECT_EQ(decode("").code, ec::truncated);
}

TEST(Codec, RejectsOversizedDatagram) {
  limits lim;
  lim.max_datagram = 100;
  envelope env;
  env.sender = "n";
  env.messages.push_back({channel::membership, std::string(200, 'x')});
  EXPECT_EQ(decode(encode(env), lim).code, ec::too_large);
}

TEST(Codec, RejectsEveryTruncation) {
  auto bytes = encode(sample());
  // Protobuf has no end marker: a prefix that stops exactly between two
  // messages is a valid, shorter envelope. Every other cut is truncated.
  size_t truncated = 0;
  for (size_t n = 1; n < bytes.size(); ++n) {
    auto got = decode(std::string_view{bytes}.substr(0, n));
    if (got.ok())
      EXPECT_LT(got->messages.size(), 3u) << "prefix of " << n;
    else if (got.code == ec::truncated)
      ++truncated;
  }
  EXPECT_GE(truncated, bytes.size() - 6);
}

TEST(Codec, RejectsTooManyMessages) {
  limits lim;
  lim.max_messages = 4;
  envelope env;
  env.sender = "n";
  for (int i = 0; i < 5; ++i)
    env.messages.push_back({channel::membership, "m"});
  EXPECT_EQ(decode(encode(env), lim).code, ec::too_many_messages);
  env.messages.pop_back();
  EXPECT_TRUE(decode(encode(env), lim).ok());
}

TEST(Codec, RejectsBadVersionAndMissingVersion) {
  auto env = sample();
  env.version = 2;
  EXPECT_EQ(decode(encode(env)).code, ec::bad_version);
  Envelope pb; // version 0 is omitted on the wire
  pb.set_sender("n");
  EXPECT_EQ(decode(pb.SerializeAsString()).code, ec::bad_version);
}

TEST(Codec, RejectsUnknownChannel) {
  Envelope pb;
  pb.set_version(envelope_version);
  pb.add_messages()->set_channel(99);
  EXPECT_EQ(decode(pb.SerializeAsString()).code, ec::unknown_channel);
  Envelope zero;
  zero.set_version(envelope_version);
  zero.add_messages()->set_body("no channel");
  EXPECT_EQ(decode(zero.SerializeAsString()).code, ec::unknown_channel);
}

TEST(Codec, RejectsLongSenderAndBody) {
  limits lim;
  lim.max_sender = 8;
  lim.max_body = 16;
  envelope env;
  env.sender = std::string(9, 's');
  EXPECT_EQ(decode(encode(env), lim).code, ec::field_too_large);
  env.sender = "ok";
  env.messages.push_back({channel::membership, std::string(17, 'b')});
  EXPECT_EQ(decode(encode(env), lim).code, ec::field_too_large);
}

TEST(Codec, RejectsHugeLengthPrefixesWithoutAllocating) {
  std::string bytes;
  put_varint(bytes, (1 << 3) | 0);
  put_varint(bytes, envelope_version);
  put_varint(bytes, (3 << 3) | 2);
  put_varint(bytes, 0xffffffffffULL); // claims a terabyte
  EXPECT_EQ(decode(bytes).code, ec::truncated);
  std::string sender;
  put_varint(sender, (2 << 3) | 2);
  put_varint(sender, UINT64_MAX);
  EXPECT_EQ(decode(sender).code, ec::truncated);
}

TEST(Codec, RejectsMalformedWireData) {
  // Varint longer than 10 bytes.
  std::string bad_varint(11, '\xff');
  EXPECT_EQ(decode(bad_varint).code, ec::malformed);
  // Group wire type (3).
  std::string group;
  put_varint(group, (5 << 3) | 3);
  EXPECT_EQ(decode(group).code, ec::malformed);
  // Field number 0.
  EXPECT_EQ(decode(std::string(1, '\x02')).code, ec::malformed);
  // Known field with the wrong wire type.
  std::string wrong;
  put_varint(wrong, (3 << 3) | 0);
  put_varint(wrong, 1);
  EXPECT_EQ(decode(wrong).code, ec::malformed);
  // Sender that is not UTF-8.
  Envelope pb;
  pb.set_version(envelope_version);
  std::string bytes = pb.SerializeAsString();
  put_varint(bytes, (2 << 3) | 2);
  put_varint(bytes, 2);
  bytes += "\xc3\x28";
  EXPECT_EQ(decode(bytes).code, ec::malformed);
}

TEST(Codec, SkipsUnknownFieldsForForwardCompatibility) {
  auto bytes = encode(sample());
  put_varint(bytes, (15 << 3) | 2);
  put_varint(bytes, 3);
  bytes += "new";
  put_varint(bytes, (16 << 3) | 5);
  bytes += "abcd";
  auto got = decode(bytes);
  ASSERT_TRUE(got.ok()) << to_string(got.code);
  EXPECT_EQ(got->messages.size(), 3u);
}

TEST(Codec, RandomGarbageNeverCrashes) {
  const uint64_t seed = std::random_device{}();
  std::cout << "seed " << seed << std::endl;
  std::mt19937_64 rng{seed};
  auto valid = encode(sample());
  size_t rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 200);
      for (auto& c : bytes)
        c = static_cast<char>(rng());
    } else {
      bytes = valid;
      for (int k = 0; k < 3; ++k)
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    auto got = decode(bytes);
    if (!got.ok()) {
      ++rejected;
      EXPECT_NE(got.code, ec::none);
    } else {
      EXPECT_LE(got->messages.size(), limits{}.max_messages);
    }
  }
  EXPECT_GT(rejected, 10000u);
}

outbound msg(address to, size_t len, channel c = channel::membership) {
  return outbound{std::move(to), c, std::string(len, 'p')};
}

TEST(Pack, GroupsByDestinationInFirstAppearanceOrder) {
  outbound_list out{msg("a:1", 10), msg("b:1", 10), msg("a:1", 20)};
  auto res = pack("n", out, 1400, 65000);
  ASSERT_EQ(res.datagrams.size(), 2u);
  EXPECT_EQ(res.datagrams[0].to, "a:1");
  EXPECT_EQ(res.datagrams[0].messages, 2u);
  EXPECT_EQ(res.datagrams[1].to, "b:1");
  auto env = decode(res.datagrams[0].bytes);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->messages[0].body.size(), 10u);
  EXPECT_EQ(env->messages[1].body.size(), 20u);
}

TEST(Pack, SplitsAtBudgetAndKeepsEveryEnvelopeWithinIt) {
  outbound_list out;
  for (int i = 0; i < 50; ++i)
    out.push_back(msg("a:1", 100));
  auto res = pack("node", out, 1000, 65000);
  size_t total = 0;
  for (auto& d : res.datagrams) {
    EXPECT_LE(d.bytes.size(), 1000u);
    total += d.messages;
  }
  EXPECT_EQ(total, 50u);
  EXPECT_EQ(res.dropped, 0u);
  EXPECT_GE(res.datagrams.size(), 6u); // 50 * ~103 bytes / 1000
  EXPECT_LE(res.datagrams.size(), 7u);
}

TEST(Pack, SendsOversizeMessageAloneAndDropsWhatExceedsHardLimit) {
  outbound_list out{msg("a:1", 10), msg("a:1", 5000), msg("a:1", 70000),
                    msg("a:1", 10)};
  auto res = pack("n", out, 1400, 65507);
  EXPECT_EQ(res.dropped, 1u);
  ASSERT_EQ(res.datagrams.size(), 3u);
  EXPECT_EQ(res.datagrams[1].messages, 1u);
  EXPECT_GT(res.datagrams[1].bytes.size(), 5000u);
}

TEST(Pack, HonoursMaxMessages) {
  limits lim;
  lim.max_messages = 3;
  outbound_list out;
  for (int i = 0; i < 7; ++i)
    out.push_back(msg("a:1", 1));
  auto res = pack("n", out, 1400, 65000, lim);
  ASSERT_EQ(res.datagrams.size(), 3u);
  EXPECT_EQ(res.datagrams[2].messages, 1u);
}

TEST(Pack, DropsMessagesWithoutDestination) {
  auto res = pack("n", {msg("", 1)}, 1400, 65000);
  EXPECT_EQ(res.dropped, 1u);
  EXPECT_TRUE(res.datagrams.empty());
}

} // namespace
} // namespace pekonode::transport
