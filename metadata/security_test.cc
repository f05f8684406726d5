// The metadata core under hostile input, each test replaying an attack:
// wire input held to the rules of a local write.

#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "metadata/core.h"
#include "metadata/metadata.pb.h"

namespace pekonode::metadata {
namespace {

constexpr uint64_t wall = 1'700'000'000'000ULL;
const time_point t0{seconds(100)};
const address peer = "10.0.0.2:7946";

std::string encode(const Message& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

uint64_t count(const core& c, const std::string& reason) {
  auto& r = c.get_stats().rejects;
  auto i = r.find(reason);
  return i == r.end() ? 0 : i->second;
}

Message rumour_entry(const std::string& key, const std::string& value,
                     const std::string& origin, bool tombstone = false,
                     uint64_t hlc = make_hlc(wall, 0)) {
  Message m;
  auto* e = m.mutable_rumour()->add_entries();
  e->set_key(key);
  e->set_value(value);
  e->set_tombstone(tombstone);
  e->mutable_version()->set_hlc(hlc);
  e->mutable_version()->set_origin(origin);
  return m;
}

// -- wire input meets local rules ---------------------------------------------

// The same function judges a local write and a remote entry: each case is
// refused locally (put, or the node id of a core) and remotely with the
// same reason, and nothing is stored.
TEST(WireInput, EntriesAreHeldToTheRulesOfALocalWrite) {
  auto cfg = config::lan();
  cfg.limits.max_value_bytes = 1000;
  struct bad {
    std::string key, value, origin;
    bool tombstone;
    const char* reason;
  };
  std::vector<bad> cases = {
    {"", "v", "w", false, "empty_key"},
    {std::string(257, 'k'), "v", "w", false, "key_too_large"},
    {"k", std::string(1001, 'v'), "w", false, "value_too_large"},
    {"k", "v", "w", true, "bad_tombstone"},
    {"k", "v", "", false, "origin_invalid"},
    {"k", "v", std::string(129, 'o'), false, "origin_invalid"},
    {"k", "v", "evil node", false, "origin_invalid"},
    {"k", "v", "evil\nWARNING forged log line", false, "origin_invalid"},
    {"k", "v", "evil\x1b[31m", false, "origin_invalid"},
    {"k", "v", "\xc3\xa9t\xc3\xa9", false, "origin_invalid"},
    {"k", "v", "del\x7f", false, "origin_invalid"},
  };
  for (auto& c : cases) {
    // Locally: a put under the same key/value, or a core under that name.
    if (c.origin == "w" && !c.tombstone) {
      core local(cfg, "w", 1);
      outbound_list out;
      EXPECT_EQ(to_string(local.put(c.key, c.value, wall, t0, out).code),
                std::string{c.reason});
    } else if (c.origin != "w") {
      EXPECT_THROW(core(cfg, c.origin, 1), std::invalid_argument)
        << c.reason;
    }
    // Remotely: rumour and push alike.
    for (bool via_rumour : {true, false}) {
      core b(cfg, "b", 2);
      b.set_peers({peer});
      auto m = rumour_entry(c.key, c.value, c.origin, c.tombstone);
      if (!via_rumour) {
        Updates u = m.rumour();
        *m.mutable_push() = u;
      }
      outbound_list out;
      b.handle(peer, encode(m), wall, t0, out);
      EXPECT_EQ(count(b, c.reason), 1u) << c.reason;
      EXPECT_EQ(b.data().size(), 0u) << c.reason;
      EXPECT_TRUE(out.empty()) << c.reason;
      EXPECT_EQ(b.get_stats().applied_remote, 0u);
    }
  }
  // The boundary cases are accepted on both sides.
  core b(cfg, "b", 2);
  outbound_list out;
  std::string name(128, '~');
  EXPECT_NO_THROW(core(cfg, name, 1));
  b.handle(peer, encode(rumour_entry(std::string(256, '\n'),
                                     std::string(1000, 'v'), name)),
           wall, t0, out);
  EXPECT_EQ(b.get_stats().applied_remote, 1u)
    << "keys are data: any bytes, escaped by whoever prints them";
}

// Announces (large values pulled in chunks) pass the same check before any
// transfer starts or any buffer is allocated.
TEST(WireInput, AnnouncesAreHeldToTheSameRules) {
  auto cfg = config::lan();
  struct bad {
    std::string key, origin;
    uint32_t size;
    const char* reason;
  };
  std::vector<bad> cases = {
    {"", "w", 5000, "empty_key"},
    {std::string(300, 'k'), "w", 5000, "key_too_large"},
    {"k", "w", 512 * 1024 + 1, "value_too_large"},
    {"k", "bad origin", 5000, "origin_invalid"},
    {"k", std::string(200, 'o'), 5000, "origin_invalid"},
  };
  for (auto& c : cases) {
    core b(cfg, "b", 2);
    b.set_peers({peer});
    Message m;
    auto* a = m.mutable_rumour()->add_announces();
    a->set_key(c.key);
    a->set_size(c.size);
    a->mutable_version()->set_hlc(make_hlc(wall, 0));
    a->mutable_version()->set_origin(c.origin);
    outbound_list out;
    b.handle(peer, encode(m), wall, t0, out);
    EXPECT_EQ(count(b, c.reason), 1u) << c.reason;
    EXPECT_EQ(b.active_transfers(), 0u);
    EXPECT_TRUE(out.empty()) << "no chunk request for " << c.reason;
  }
}

// A chunk request names a key and a version: both are checked by the
// store's rules before the store is even looked up (a bad origin would
// otherwise be echoed back in a chunk_gone).
TEST(WireInput, ChunkRequestsUseTheSameRules) {
  auto cfg = config::lan();
  core b(cfg, "b", 2);
  b.set_peers({peer});
  outbound_list out;
  b.put("held", std::string(5000, 'x'), wall, t0, out);
  out.clear();
  for (auto [key, origin] : {std::pair<std::string, std::string>{"held", "b\r\n"},
                             {"", "b"},
                             {std::string(257, 'k'), "b"}}) {
    Message req;
    auto* r = req.mutable_chunk_request();
    r->set_key(key);
    r->mutable_version()->set_hlc(b.data().find("held")->ver.hlc);
    r->mutable_version()->set_origin(origin);
    r->set_chunk_size(1000);
    r->add_indices(0);
    b.handle(peer, encode(req), wall, t0, out);
  }
  EXPECT_EQ(count(b, "bad_chunk_request"), 3u);
  EXPECT_TRUE(out.empty()) << "not even chunk_gone";
}

} // namespace
} // namespace pekonode::metadata
