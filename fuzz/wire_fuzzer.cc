// Fuzz target: the receive pipeline of transport/wire.h without encryption,
// i.e. a plaintext frame ([0x01][label length][label][envelope]) checked
// against the cluster label, then decoded. Input: one received datagram.
//
// Checked: the result is exactly "open the frame, then decode the envelope"
// (the pipeline adds only its size bound), a wrong or missing label never
// yields an envelope, and whatever is accepted survives a send/receive round
// trip through the same wire.

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "transport/wire.h"

namespace {

using namespace pekonode;
using namespace pekonode::transport;

const wire& plain_wire(const std::string& label) {
  static const wire labelled{wire_config{"fuzz-node", 1400, {}},
                             framer{keyring{}, "fuzz-cluster"}};
  static const wire unlabelled{wire_config{"fuzz-node", 1400, {}},
                               framer{keyring{}, ""}};
  return label.empty() ? unlabelled : labelled;
}

void check(const wire& w, std::string_view dg) {
  auto got = w.receive(dg);
  const auto& label = w.frame().label();
  const size_t cap = w.config().codec.max_datagram + w.frame().overhead();
  if (dg.size() > cap) {
    FUZZ_CHECK(got.code == ec::too_large, "oversize datagram not too_large");
    return;
  }
  // The reference: the frame layout by hand, then the codec.
  bool framed = dg.size() >= 2 && static_cast<uint8_t>(dg[0]) == frame_plain
                && dg.size() >= 2 + static_cast<uint8_t>(dg[1]);
  bool label_ok = framed && static_cast<uint8_t>(dg[1]) == label.size()
                  && dg.substr(2, label.size()) == label;
  if (!label_ok) {
    FUZZ_CHECK(!got.ok(), "accepted a datagram with a bad frame or label");
    return;
  }
  auto ref = decode(dg.substr(2 + label.size()), w.config().codec);
  FUZZ_CHECK(ref.code == got.code, "pipeline and codec disagree");
  if (!got)
    return;
  FUZZ_CHECK(got->sender == ref->sender
               && got->messages.size() == ref->messages.size(),
             "pipeline and codec decode differently");
  // Send what was received to ourselves and read it back.
  outbound_list out;
  for (auto& m : got->messages)
    out.push_back(outbound{"10.0.0.2:7946", m.chan, m.body});
  auto batch = w.prepare(out);
  size_t n = 0;
  for (auto& d : batch.datagrams) {
    auto sealed = w.seal(d.bytes, d.to, 1, 0);
    FUZZ_CHECK(sealed.ok(), sealed.message.c_str());
    FUZZ_CHECK(sealed->size() <= cap, "prepared datagram above the cap");
    auto back = w.receive(*sealed);
    FUZZ_CHECK(back.ok(), back.message.c_str());
    FUZZ_CHECK(back->sender == w.config().name, "sender of own datagram");
    for (auto& m : back->messages) {
      FUZZ_CHECK(n < got->messages.size(), "more messages came back");
      FUZZ_CHECK(m.body == got->messages[n].body
                   && m.chan == got->messages[n].chan,
                 "round trip changed a message");
      ++n;
    }
  }
  FUZZ_CHECK(n + batch.dropped == got->messages.size(), "round trip lost messages");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view dg{reinterpret_cast<const char*>(data), size};
  check(plain_wire("fuzz-cluster"), dg);
  check(plain_wire(""), dg);
  return 0;
}
