#include "transport/wire.h"

#include <algorithm>

namespace pekonode::transport {

namespace {

// Largest UDP payload over IPv4; IPv6 allows a little more but no more is
// needed.
constexpr size_t max_udp_payload = 65507;

} // namespace

wire::wire(wire_config cfg, framer f)
  : cfg_(std::move(cfg)), framer_(std::move(f)) {
}

wire_batch wire::prepare(const outbound_list& out) const {
  const size_t overhead = framer_.overhead();
  const size_t frame_cap = std::min(max_udp_payload,
                                    cfg_.codec.max_datagram + overhead);
  const size_t hard = frame_cap > overhead ? frame_cap - overhead : 0;
  const size_t budget = std::min(
    hard, cfg_.max_datagram > overhead ? cfg_.max_datagram - overhead : 0);
  auto packed = pack(cfg_.name, out, budget, hard, cfg_.codec);
  wire_batch res;
  res.dropped = packed.dropped;
  res.datagrams.reserve(packed.datagrams.size());
  for (auto& d : packed.datagrams)
    res.datagrams.push_back(
      wire_datagram{std::move(d.to), std::move(d.bytes), d.messages});
  return res;
}

result<std::string> wire::seal(std::string_view envelope, const address& dest,
                               uint64_t seq, uint64_t sent_ms) const {
  return framer_.seal(envelope, frame_header{cfg_.epoch, seq, sent_ms, dest});
}

result<envelope> wire::receive(std::string_view datagram,
                               frame_header* h) const {
  const size_t cap = cfg_.codec.max_datagram + framer_.overhead();
  if (datagram.size() > cap)
    return result<envelope>::failure(ec::too_large,
                                     "datagram of " + std::to_string(datagram.size())
                                       + " bytes exceeds " + std::to_string(cap));
  auto opened = framer_.open(datagram, h);
  if (!opened)
    return result<envelope>::failure(opened.code, opened.message);
  return decode(*opened, cfg_.codec);
}

} // namespace pekonode::transport
