// The bulk sender with a fake encoder: the rate the token bucket admits,
// first-in first-out order, push packing, duplicates, the queue bound and
// the wake-up time.

#include "metadata/bulk_sender.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pekonode::metadata {
namespace {

constexpr size_t packet = 1000;
const time_point t0{std::chrono::hours(1)};

// Records what the sender asks for. Every packet costs `bytes`; a push
// packet holds at most `per_push` keys; chunks of keys in `gone` are not
// servable any more.
struct fake_encoder : bulk_encoder {
  size_t bytes = packet;
  size_t per_push = 100;
  std::vector<std::string> gone;
  std::vector<std::string> log; // "chunk to key#i", "push to k1,k2"
  std::vector<std::string> building;

  size_t send_chunk(const address& to, const chunk_job& c) override {
    for (auto& g : gone)
      if (g == c.key)
        return 0;
    log.push_back("chunk " + to + " " + c.key + "#" + std::to_string(c.index));
    return bytes;
  }
  bool add_push(const std::string& key) override {
    if (building.size() >= per_push)
      return false;
    building.push_back(key);
    return true;
  }
  size_t send_push(const address& to) override {
    if (building.empty())
      return 0;
    std::string s = "push " + to + " ";
    for (size_t i = 0; i < building.size(); ++i)
      s += (i ? "," : "") + building[i];
    building.clear();
    log.push_back(s);
    return bytes;
  }
};

chunk_job job(const std::string& key, uint32_t index) {
  return chunk_job{key, version{make_hlc(10, 0), "n1"}, index, 500};
}

TEST(BulkSender, StartsWithFourPacketsThenFollowsTheRate) {
  // 10 packets per second; burst max(4 packets, rate / 20) = 4 packets.
  bulk_sender b(10 * packet, packet, 1000);
  b.start(t0);
  for (uint32_t i = 0; i < 200; ++i)
    ASSERT_EQ(b.chunk("p", job("k", i)), bulk_enqueue::queued);
  fake_encoder enc;
  b.drain(t0, enc);
  EXPECT_EQ(enc.log.size(), 4u);
  // Every 10 ms for 5 s: one packet per 100 ms.
  for (int ms = 10; ms <= 5000; ms += 10)
    b.drain(t0 + milliseconds(ms), enc);
  EXPECT_EQ(enc.log.size(), 4u + 50u);
  // An idle minute earns a burst of 4 packets, not 600.
  b.drain(t0 + seconds(65), enc);
  EXPECT_EQ(enc.log.size(), 4u + 50u + 4u);
}

TEST(BulkSender, NextWakeupIsWhenAPacketIsAffordable) {
  bulk_sender b(10 * packet, packet, 1000);
  b.start(t0);
  EXPECT_EQ(b.next_wakeup(), time_point::max()) << "nothing queued";
  for (uint32_t i = 0; i < 5; ++i)
    b.chunk("p", job("k", i));
  fake_encoder enc;
  b.drain(t0, enc);
  ASSERT_EQ(enc.log.size(), 4u);
  // The bucket is empty: 1000 bytes at 10000 B/s take 100 ms.
  auto due = b.next_wakeup();
  EXPECT_GT(due, t0 + milliseconds(99));
  EXPECT_LE(due, t0 + milliseconds(101));
  b.drain(due - milliseconds(1), enc);
  EXPECT_EQ(enc.log.size(), 4u) << "not yet";
  b.drain(due, enc);
  EXPECT_EQ(enc.log.size(), 5u);
  EXPECT_EQ(b.next_wakeup(), time_point::max());
}

TEST(BulkSender, SendsInArrivalOrderAndPacksConsecutivePushesToOnePeer) {
  bulk_sender b(1'000'000, packet, 1000);
  b.start(t0);
  b.push("a", "k1");
  b.push("a", "k2");
  b.chunk("b", job("big", 0));
  b.push("a", "k3");
  b.push("c", "k4");
  b.push("c", "k5");
  b.push("a", "k6");
  fake_encoder enc;
  b.drain(t0, enc);
  EXPECT_EQ(enc.log, (std::vector<std::string>{
                       "push a k1,k2", "chunk b big#0", "push a k3",
                       "push c k4,k5"}))
    << "four packets, then the bucket is empty";
  b.drain(t0 + seconds(1), enc);
  ASSERT_EQ(enc.log.size(), 5u);
  EXPECT_EQ(enc.log[4], "push a k6");
  EXPECT_TRUE(b.empty());
}

TEST(BulkSender, AFullPushPacketLeavesTheRestFirstInLine) {
  bulk_sender b(1'000'000, packet, 1000);
  b.start(t0);
  for (int i = 1; i <= 5; ++i)
    b.push("a", "k" + std::to_string(i));
  fake_encoder enc;
  enc.per_push = 2;
  b.drain(t0, enc);
  EXPECT_EQ(enc.log, (std::vector<std::string>{"push a k1,k2", "push a k3,k4",
                                               "push a k5"}));
}

TEST(BulkSender, DuplicatesAreIgnoredUntilSent) {
  bulk_sender b(10 * packet, packet, 1000);
  b.start(t0);
  for (uint32_t i = 0; i < 4; ++i)
    b.chunk("filler", job("f", i)); // take the first four packets
  EXPECT_EQ(b.push("a", "k"), bulk_enqueue::queued);
  EXPECT_EQ(b.push("a", "k"), bulk_enqueue::duplicate);
  EXPECT_EQ(b.push("b", "k"), bulk_enqueue::queued) << "another peer";
  EXPECT_EQ(b.chunk("a", job("v", 3)), bulk_enqueue::queued);
  EXPECT_EQ(b.chunk("a", job("v", 3)), bulk_enqueue::duplicate);
  EXPECT_EQ(b.chunk("a", job("v", 4)), bulk_enqueue::queued);
  EXPECT_EQ(b.size(), 8u);
  fake_encoder enc;
  b.drain(t0 + seconds(1), enc); // 4 packets: the filler
  b.drain(t0 + seconds(2), enc); // 4 more: everything else
  EXPECT_TRUE(b.empty());
  // Sent: the same items may be queued again (a retry after a loss).
  EXPECT_EQ(b.push("a", "k"), bulk_enqueue::queued);
  EXPECT_EQ(b.chunk("a", job("v", 3)), bulk_enqueue::queued);
}

TEST(BulkSender, QueueIsBounded) {
  bulk_sender b(10 * packet, packet, 3);
  b.start(t0);
  EXPECT_EQ(b.push("a", "k1"), bulk_enqueue::queued);
  EXPECT_EQ(b.push("a", "k2"), bulk_enqueue::queued);
  EXPECT_EQ(b.chunk("a", job("v", 0)), bulk_enqueue::queued);
  EXPECT_EQ(b.push("a", "k3"), bulk_enqueue::full);
  EXPECT_EQ(b.chunk("a", job("v", 1)), bulk_enqueue::full);
  EXPECT_EQ(b.push("a", "k1"), bulk_enqueue::full) << "full before duplicate";
  EXPECT_EQ(b.size(), 3u);
}

TEST(BulkSender, ItemsWithNothingToSendCostNoTokens) {
  bulk_sender b(10 * packet, packet, 1000);
  b.start(t0);
  for (uint32_t i = 0; i < 10; ++i)
    b.chunk("a", job("stale", i));
  for (uint32_t i = 0; i < 4; ++i)
    b.chunk("a", job("live", i));
  fake_encoder enc;
  enc.gone = {"stale"};
  b.drain(t0, enc);
  EXPECT_EQ(enc.log.size(), 4u);
  EXPECT_TRUE(b.empty());
}

TEST(BulkSender, SmallPacketsLetMoreThrough) {
  // Items leave while a whole packet is affordable; each spends only its
  // own bytes, so 100-byte payloads get ~10x the items through.
  bulk_sender b(10 * packet, packet, 1000);
  b.start(t0);
  for (uint32_t i = 0; i < 100; ++i)
    b.chunk("a", job("k", i));
  fake_encoder enc;
  enc.bytes = 100;
  b.drain(t0, enc);
  // 4000 tokens; stops once fewer than 1000 remain: 31 items (900 left).
  EXPECT_EQ(enc.log.size(), 31u);
}

} // namespace
} // namespace pekonode::metadata
