// Fuzz target: transport::decode, the envelope decoder every datagram reaches
// after its frame is opened. Input: the envelope bytes.
//
// Checked on every input, under the default limits and under tight ones:
//  * a failure carries a code and a reason;
//  * a success respects every bound it promises (version, sender, count,
//    channel, body size) and re-encodes to bytes that decode to the same
//    envelope (encode/decode agree);
//  * pack() of the decoded messages yields envelopes that decode back to the
//    same messages in the same order (the sender's batching agrees with the
//    receiver's decoder).

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "transport/codec.h"

namespace {

using namespace pekonode;
using namespace pekonode::transport;

bool same(const envelope& a, const envelope& b) {
  if (a.version != b.version || a.sender != b.sender
      || a.messages.size() != b.messages.size())
    return false;
  for (size_t i = 0; i < a.messages.size(); ++i)
    if (a.messages[i].chan != b.messages[i].chan
        || a.messages[i].body != b.messages[i].body)
      return false;
  return true;
}

void check(std::string_view bytes, const limits& lim) {
  auto env = decode(bytes, lim);
  if (!env) {
    FUZZ_CHECK(env.code != ec::none, "failure without a code");
    FUZZ_CHECK(!env.message.empty(), "failure without a reason");
    return;
  }
  FUZZ_CHECK(!bytes.empty() && bytes.size() <= lim.max_datagram, "size bound");
  FUZZ_CHECK(env->version == envelope_version, "version");
  FUZZ_CHECK(env->sender.size() <= lim.max_sender, "sender bound");
  FUZZ_CHECK(env->messages.size() <= lim.max_messages, "message count bound");
  for (auto& m : env->messages) {
    FUZZ_CHECK(is_known_channel(static_cast<uint32_t>(m.chan)), "channel");
    FUZZ_CHECK(m.body.size() <= lim.max_body, "body bound");
  }
  // Canonical re-encoding is never longer than what was accepted (fields
  // kept were all present in the input), so it passes the same limits.
  auto again_bytes = encode(*env);
  FUZZ_CHECK(again_bytes.size() <= bytes.size(), "re-encoding grew");
  auto again = decode(again_bytes, lim);
  FUZZ_CHECK(again.ok(), again.message.c_str());
  FUZZ_CHECK(same(*env, *again), "encode/decode round trip differs");

  // The sender side: batch the same messages for one peer and decode them.
  outbound_list out;
  for (auto& m : env->messages)
    out.push_back(outbound{"10.0.0.1:7946", m.chan, m.body});
  // As wire::prepare: the budget never exceeds the hard limit.
  auto packed = pack(env->sender, out, std::min<size_t>(1400, lim.max_datagram),
                     lim.max_datagram, lim);
  std::vector<envelope_message> seen;
  for (auto& d : packed.datagrams) {
    FUZZ_CHECK(d.bytes.size() <= lim.max_datagram, "packed above hard limit");
    auto e = decode(d.bytes, lim);
    FUZZ_CHECK(e.ok(), e.message.c_str());
    FUZZ_CHECK(e->sender == env->sender, "packed sender");
    FUZZ_CHECK(e->messages.size() == d.messages, "packed count");
    for (auto& m : e->messages)
      seen.push_back(m);
  }
  // A message may only be dropped when its envelope alone exceeds the limit.
  size_t dropped = 0;
  for (auto& m : env->messages)
    if (header_wire_size(env->sender.size())
          + message_wire_size(m.chan, m.body.size())
        > lim.max_datagram)
      ++dropped;
  FUZZ_CHECK(packed.dropped == dropped, "pack dropped a message that fits");
  FUZZ_CHECK(seen.size() + dropped == env->messages.size(), "pack lost messages");
  if (dropped == 0)
    for (size_t i = 0; i < seen.size(); ++i)
      FUZZ_CHECK(seen[i].chan == env->messages[i].chan
                   && seen[i].body == env->messages[i].body,
                 "pack reordered or changed a message");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  check(bytes, limits{});
  limits tight;
  tight.max_datagram = 512;
  tight.max_messages = 4;
  tight.max_sender = 16;
  tight.max_body = 96;
  check(bytes, tight);
  return 0;
}
