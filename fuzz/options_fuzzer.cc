// Fuzz target: the pekonode binary's flag parsers (node/options.h). The same
// parsers check admin API input (seeds of POST /v1/join, tags of PUT
// /v1/tags, blocked peers of POST /v1/faults), so they see outside bytes too.
//
// Input: a mode byte, then
//   even:   ten 16-bit length-prefixed fields of raw_flags (name, bind,
//           advertise, join, tags, profile, admin, keyring_file, label, and
//           one byte for fault_injection), parsed with parse_options;
//   odd:    one text fed to every single-value parser.
//
// Checked: an error is one line that names its flag; a success satisfies the
// documented limits, every parsed value prints to text that parses back to
// the same value (so what the node logs and gossips is what it accepted), and
// accepted tags survive a membership Update's protobuf round trip.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/check.h"
#include "fuzz/input.h"
#include "fuzz/protobuf_quiet.h"
#include "membership/membership.pb.h"
#include "node/options.h"

namespace {

using namespace pekonode::node;

bool one_line(const std::string& s) {
  return s.find('\n') == std::string::npos && s.find('\r') == std::string::npos;
}

void check_ip(const ip_endpoint& ep, bool allow_zero) {
  FUZZ_CHECK(allow_zero || ep.port != 0, "port 0 where not allowed");
  ip_endpoint again;
  auto err = parse_ip_endpoint(ep.to_string(), allow_zero, again);
  FUZZ_CHECK(err.empty(), err.c_str());
  FUZZ_CHECK(again.ip == ep.ip && again.port == ep.port && again.ipv6 == ep.ipv6,
             "ip endpoint does not round-trip");
}

void check_host(const host_endpoint& ep) {
  FUZZ_CHECK(ep.port != 0 && !ep.host.empty(), "host endpoint fields");
  if (ep.discovery) {
    // "dns:NAME:PORT" is a --join form only.
    std::vector<host_endpoint> again;
    auto err = parse_join(ep.to_string(), again);
    FUZZ_CHECK(err.empty(), err.c_str());
    FUZZ_CHECK(again.size() == 1 && again[0].discovery
                 && again[0].host == ep.host && again[0].port == ep.port,
               "dns: seed does not round-trip");
    return;
  }
  host_endpoint again;
  auto err = parse_host_endpoint(ep.to_string(), again);
  FUZZ_CHECK(err.empty(), err.c_str());
  FUZZ_CHECK(again.host == ep.host && again.port == ep.port,
             "host endpoint does not round-trip");
}

// The escaping parse_tags documents: backslash before ',', '=' and '\'.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '=' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

void check_tags(const std::map<std::string, std::string>& tags) {
  auto err = validate_tags(tags);
  FUZZ_CHECK(err.empty(), err.c_str());
  FUZZ_CHECK(tags.size() <= max_tags, "tag count");
  // Accepted tags are gossiped in every alive claim: peers must parse them.
  pekonode::membership::Update u;
  u.set_name("n");
  u.mutable_tags()->insert(tags.begin(), tags.end());
  pekonode::membership::Update back;
  FUZZ_CHECK(back.ParseFromString(u.SerializeAsString()),
             "accepted tags make membership packets unparseable");
  FUZZ_CHECK(back.tags_size() == static_cast<int>(tags.size()), "tags lost");
  std::string text;
  for (auto& [k, v] : tags) {
    if (!text.empty())
      text += ',';
    text += escape(k) + "=" + escape(v);
  }
  std::map<std::string, std::string> again;
  err = parse_tags(text, again);
  FUZZ_CHECK(err.empty(), err.c_str());
  FUZZ_CHECK(again == tags, "tags do not round-trip");
}

void check_join(const std::vector<host_endpoint>& seeds) {
  FUZZ_CHECK(seeds.size() <= max_join_seeds, "seed count");
  std::string text;
  for (size_t i = 0; i < seeds.size(); ++i) {
    check_host(seeds[i]);
    for (size_t j = 0; j < i; ++j)
      FUZZ_CHECK(seeds[j].to_string() != seeds[i].to_string(), "duplicate seed");
    text += (i ? "," : "") + seeds[i].to_string();
  }
  std::vector<host_endpoint> again;
  auto err = parse_join(text, again);
  FUZZ_CHECK(err.empty(), err.c_str());
  FUZZ_CHECK(again.size() == seeds.size(), "seed list does not round-trip");
}

void single_values(std::string_view text) {
  for (bool zero : {false, true}) {
    ip_endpoint ip;
    auto err = parse_ip_endpoint(text, zero, ip);
    FUZZ_CHECK(one_line(err), "multi-line error");
    if (err.empty())
      check_ip(ip, zero);
  }
  host_endpoint host;
  if (auto err = parse_host_endpoint(text, host); err.empty())
    check_host(host);
  else
    FUZZ_CHECK(one_line(err), "multi-line error");
  std::vector<host_endpoint> seeds;
  if (auto err = parse_join(text, seeds); err.empty())
    check_join(seeds);
  else
    FUZZ_CHECK(one_line(err), "multi-line error");
  std::map<std::string, std::string> tags;
  if (auto err = parse_tags(text, tags); err.empty())
    check_tags(tags);
  else
    FUZZ_CHECK(one_line(err), "multi-line error");
  if (validate_name(text).empty())
    FUZZ_CHECK(!text.empty() && text.size() <= max_name_bytes, "name bounds");
  profile p;
  if (parse_profile(text, p).empty())
    FUZZ_CHECK(text == to_string(p), "profile does not round-trip");
}

void all_flags(pekonode::fuzz::input& in) {
  raw_flags raw;
  raw.name = in.blob();
  raw.bind = in.blob();
  raw.advertise = in.blob();
  raw.join = in.blob();
  raw.tags = in.blob();
  raw.profile = in.blob();
  raw.admin = in.blob();
  raw.keyring_file = in.blob();
  raw.label = in.blob();
  raw.fault_injection = in.flag();
  node_options opts;
  auto err = parse_options(raw, opts);
  if (!err.empty()) {
    FUZZ_CHECK(err.compare(0, 2, "--") == 0, "error does not name its flag");
    FUZZ_CHECK(one_line(err), "multi-line error");
    return;
  }
  FUZZ_CHECK(validate_name(opts.name).empty(), "name");
  check_ip(opts.bind, true);
  if (opts.advertise) {
    check_ip(*opts.advertise, false);
    FUZZ_CHECK(!opts.advertise->unspecified(), "unspecified advertise");
  }
  if (opts.admin)
    check_ip(*opts.admin, true);
  check_join(opts.join);
  check_tags(opts.tags);
  FUZZ_CHECK(opts.label.size() <= max_label_bytes, "label bound");
  FUZZ_CHECK(opts.keyring_file == raw.keyring_file, "keyring path changed");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pekonode::fuzz::quiet_protobuf();
  pekonode::fuzz::input in{data, size};
  if ((in.u8() & 1) == 0)
    all_flags(in);
  else
    single_values(in.rest());
  return 0;
}
